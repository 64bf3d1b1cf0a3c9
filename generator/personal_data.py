"""Names and addresses the generator combines into people who could work in Australia."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MALE_FIRST_NAMES: tuple[str, ...] = _words(
    """
    Oliver Noah Jack William Leo Henry Thomas James Charlie Lucas Hudson Theodore Liam Max
    Harrison Ethan Levi Archie Mason Hunter Samuel Alexander Isaac Benjamin Jacob Lachlan
    Cooper Harvey Oscar Joshua Daniel Matthew Andrew Michael David Christopher Nicholas Ryan
    Luke Nathan Adam Timothy Peter Paul Mark Stephen Richard Robert John Anthony Joseph
    Gregory Craig Scott Shane Darren Brett Glenn Wayne Trevor Bruce Kevin Graham Ian Neil
    Ross Rodney Barry Keith Colin Gary Dean Jason Aaron Bradley Jarrod Mitchell Riley Tyler
    Jake Zachary Dylan Kai Angus Hamish Fergus Callum Rhys Owen Edward Frederick Harry
    Sebastian Dominic Vincent Marco Giuseppe Antonio Luca Matteo Georgios Nikolaos Dimitri
    Konstantinos Mohammed Ahmed Omar Ali Hassan Yusuf Ibrahim Minh Tuan Duc Hung Quang Wei
    Jun Hao Jian Ming Rahul Arjun Vikram Sanjay Rohan Aditya Karan Amit Raj Jose Carlos
    Miguel Juan Mateo Rafael Paolo Ramon Tane Wiremu Sione Mele Hemi Kwame Tendai Jaxon
    Eli Finn Jasper Arlo Ari Beau Flynn Jett Koa Ezra Nate Gabriel Elias Xavier Patrick
    """
)

FEMALE_FIRST_NAMES: tuple[str, ...] = _words(
    """
    Charlotte Amelia Isla Olivia Mia Ava Matilda Grace Willow Harper Ella Sophie Evie Ruby
    Chloe Isabella Zoe Lily Hazel Sienna Frankie Layla Aria Ivy Georgia Emily Hannah Lucy
    Jessica Sarah Rebecca Emma Laura Rachel Kate Katherine Elizabeth Jennifer Michelle Lisa
    Nicole Melissa Amanda Kylie Tracey Leanne Karen Sharon Julie Donna Wendy Debbie Kerry
    Jodie Belinda Natalie Samantha Stephanie Alexandra Victoria Madeleine Abigail Gabrielle
    Jacqueline Christine Margaret Patricia Susan Helen Joanne Alison Fiona Kirsten Tanya
    Danielle Kimberley Brooke Courtney Tahlia Jade Shannon Caitlin Bianca Monique Renee
    Maria Giulia Francesca Chiara Sofia Eleni Despina Katerina Georgina Fatima Aisha Mariam
    Zainab Leila Noor Linh Thao Huong Mai Lan Ngoc Hoa Xin Jing Mei Yan Li Ying Priya Anjali
    Deepa Kavya Neha Pooja Shreya Divya Ananya Maricel Jocelyn Rosario Carmen Lucia Ana
    Teresa Aroha Mereana Losana Ama Nomvula Zara Poppy Piper Ada Ellie Eloise Margot Iris
    Violet Mila Penelope Florence Audrey Quinn Indi Scarlett Stella Savannah Bonnie Holly
    """
)

# Names used by employees of either gender (and by those who record X or N).
NEUTRAL_FIRST_NAMES: tuple[str, ...] = _words(
    """
    Alex Sam Jordan Taylor Charlie Riley Jamie Casey Morgan Ashley Robin Kim Jesse Drew
    Frankie Harley Kai Rowan Sasha Quinn Remy Ari Eden Sky
    """
)

# Spellings payroll has to store as they are: accents, apostrophes, hyphens.
UNUSUAL_FIRST_NAMES: tuple[str, ...] = ("Zoë", "Chloé", "José", "Renée", "Seán", "Anaïs", "Jörg")

SURNAMES: tuple[str, ...] = (
    *_words(
        """
    Smith Jones Williams Brown Wilson Taylor Johnson White Martin Anderson Thompson Nguyen
    Thomas Walker Harris Lee Ryan Robinson Kelly King Davis Wright Evans Roberts Green Hall
    Wood Jackson Clarke Patel Khan Lewis James Phillips Mitchell Turner Campbell Edwards
    Baker Hughes Murphy Graham Stewart Cooper Young Allen Scott Hill Moore Morris Ward Watson
    Clark Bell Collins Cook Bailey Kennedy Murray Morgan Parker Harrison Price Reid Carter
    Hunter Adams Simpson Richardson Marshall Gray Ross Bennett Cox Russell Wallace Fraser
    Hamilton Gibson Ellis Webb Dunn Hayes Burns Sullivan Chapman Ferguson Johnston Mills
    Spencer Grant Holmes Shaw Lloyd Owen Barker Fisher Lynch Quinn Doyle Byrne Walsh Gallagher
    McDonald McKenzie McLean MacLeod Sinclair Duncan Crawford Robertson Henderson Paterson
    Tran Le Pham Huynh Hoang Phan Vu Vo Dang Bui Do Ho Ngo Duong Ly Wang Zhang Liu Chen Yang
    Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo Lin He Gao Luo Zheng Liang Xie Tang Wong Chan
    Cheung Lau Leung Ho Singh Kumar Sharma Gupta Shah Mehta Reddy Rao Iyer Nair Pillai Joshi
    Desai Kapoor Chopra Malhotra Bose Das Sandhu Gill Dhillon Grewal Santos Reyes Cruz Bautista
    Garcia Mendoza Ramos Aquino Villanueva Rossi Russo Ferrari Esposito Bianchi Romano
    Colombo Ricci Marino Greco Bruno Gallo Conti Costa Giordano Mancini Lombardi Papadopoulos
    Georgiou Nikolaidis Konstantinou Dimitriou Christodoulou Alexiou Vlahos Karagiannis
    Haddad Khoury Nasser Saleh Hussein Rahman Ahmed Ali Hassan Ibrahim Yilmaz Kaya Demir
    Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Kowalski Nowak Wisniewski
    Novak Horvat Petrovic Jovanovic Nikolic Markovic Popov Ivanov Smirnov Kovac Jansen
    Visser Bakker Janssen Dekker Hansen Jensen Nielsen Larsen Andersen Eriksson Lindqvist
    Kim Park Choi Jung Kang Cho Yoon Jang Lim Tanaka Suzuki Watanabe Takahashi Sato Ito
    Tupou Fifita Taufa Faleolo Tuilagi Ngata Parata Walker-Smith Jones-Evans Lloyd-Jones
    Clarke-Hill Anderson-Lee Nguyen-Tran Le-Pham Harris-Wood
    """
    ),
    "O'Brien",
    "O'Connor",
    "O'Neill",
    "O'Sullivan",
    "O'Keefe",
    "D'Souza",
    "D'Angelo",
    "Van der Berg",
    "De Silva",
    "Da Costa",
    "Del Rosario",
    "Müller",
    "Sørensen",
    "Nuñez",
)

# Names people ask to be called instead of the one on their tax file.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Will", "Bill", "Liam"),
    "Robert": ("Rob", "Bob", "Bobby"),
    "Elizabeth": ("Liz", "Beth", "Libby"),
    "Katherine": ("Kate", "Kath", "Katie"),
    "Christopher": ("Chris",),
    "Matthew": ("Matt",),
    "Michael": ("Mike", "Mick"),
    "Jennifer": ("Jen", "Jenny"),
    "Alexander": ("Alex", "Xander"),
    "Benjamin": ("Ben",),
    "Daniel": ("Dan", "Danny"),
    "Samuel": ("Sam",),
    "Thomas": ("Tom", "Tommy"),
    "James": ("Jim", "Jamie"),
    "Jessica": ("Jess",),
    "Rebecca": ("Bec", "Becky"),
    "Nicholas": ("Nick",),
    "Anthony": ("Tony", "Ant"),
    "Margaret": ("Maggie", "Meg"),
    "Patricia": ("Trish", "Patty"),
    "Stephanie": ("Steph",),
    "Victoria": ("Tori", "Vicki"),
    "Joseph": ("Joe",),
    "Andrew": ("Andy", "Drew"),
    "Timothy": ("Tim",),
    "Edward": ("Ed", "Ned"),
    "Richard": ("Rich", "Dick"),
    "Peter": ("Pete",),
    "Kimberley": ("Kim",),
    "Samantha": ("Sam", "Sammy"),
    "Alexandra": ("Alex", "Lexi"),
    "Christine": ("Chris",),
    "Natalie": ("Nat",),
    "Gabrielle": ("Gabby",),
    "Isabella": ("Bella", "Izzy"),
    "Charlotte": ("Charlie", "Lottie"),
    "Madeleine": ("Maddie",),
    "Olivia": ("Liv",),
    "Zachary": ("Zac",),
    "Joshua": ("Josh",),
    "Lachlan": ("Lachie",),
    "Frederick": ("Fred",),
    "Gregory": ("Greg",),
    "Jacqueline": ("Jacqui",),
    "Dominic": ("Dom",),
    "Sebastian": ("Seb",),
    "Harrison": ("Harry",),
    "Jacob": ("Jake",),
    "Vincent": ("Vince",),
    "Abigail": ("Abby",),
    "Konstantinos": ("Con", "Kosta"),
    "Georgios": ("George",),
    "Nikolaos": ("Nick",),
    "Giuseppe": ("Joe",),
    "Mohammed": ("Mo",),
    "Gabriel": ("Gabe",),
    "Susan": ("Sue",),
    "Deborah": ("Deb",),
    "Theodore": ("Theo", "Ted"),
    "Penelope": ("Penny",),
}

# English names some migrants use at work.
ADOPTED_NAMES: tuple[str, ...] = _words(
    "Michael David Kevin Tony Jimmy Vincent Peter Eric Jason Kenny Amy Lily Jenny Grace "
    "Helen Vivian Cindy Tina Sunny Annie"
)

TITLES_BY_GENDER: dict[str, tuple[str, ...]] = {
    "M": ("Mr",),
    "F": ("Ms", "Mrs", "Miss"),
    "X": ("Mx",),
    "N": ("Mx", "Mr", "Ms"),
}

# suburb, state_code, postcode: real combinations.
SUBURBS: tuple[tuple[str, str, str], ...] = (
    ("Sydney", "NSW", "2000"),
    ("Parramatta", "NSW", "2150"),
    ("Chatswood", "NSW", "2067"),
    ("Bondi", "NSW", "2026"),
    ("Manly", "NSW", "2095"),
    ("Penrith", "NSW", "2750"),
    ("Liverpool", "NSW", "2170"),
    ("Blacktown", "NSW", "2148"),
    ("Newcastle", "NSW", "2300"),
    ("Wollongong", "NSW", "2500"),
    ("Hornsby", "NSW", "2077"),
    ("Campbelltown", "NSW", "2560"),
    ("Bankstown", "NSW", "2200"),
    ("Hurstville", "NSW", "2220"),
    ("Castle Hill", "NSW", "2154"),
    ("Ryde", "NSW", "2112"),
    ("Gosford", "NSW", "2250"),
    ("Wagga Wagga", "NSW", "2650"),
    ("Albury", "NSW", "2640"),
    ("Dubbo", "NSW", "2830"),
    ("Orange", "NSW", "2800"),
    ("Tamworth", "NSW", "2340"),
    ("Port Macquarie", "NSW", "2444"),
    ("Coffs Harbour", "NSW", "2450"),
    ("Bathurst", "NSW", "2795"),
    ("Lismore", "NSW", "2480"),
    ("Melbourne", "VIC", "3000"),
    ("Richmond", "VIC", "3121"),
    ("St Kilda", "VIC", "3182"),
    ("Footscray", "VIC", "3011"),
    ("Box Hill", "VIC", "3128"),
    ("Dandenong", "VIC", "3175"),
    ("Frankston", "VIC", "3199"),
    ("Geelong", "VIC", "3220"),
    ("Ballarat", "VIC", "3350"),
    ("Bendigo", "VIC", "3550"),
    ("Werribee", "VIC", "3030"),
    ("Brunswick", "VIC", "3056"),
    ("Carlton", "VIC", "3053"),
    ("Hawthorn", "VIC", "3122"),
    ("Glen Waverley", "VIC", "3150"),
    ("Sunshine", "VIC", "3020"),
    ("Ringwood", "VIC", "3134"),
    ("Shepparton", "VIC", "3630"),
    ("Traralgon", "VIC", "3844"),
    ("Craigieburn", "VIC", "3064"),
    ("Brisbane", "QLD", "4000"),
    ("Fortitude Valley", "QLD", "4006"),
    ("South Brisbane", "QLD", "4101"),
    ("Toowong", "QLD", "4066"),
    ("Chermside", "QLD", "4032"),
    ("Indooroopilly", "QLD", "4068"),
    ("Ipswich", "QLD", "4305"),
    ("Logan Central", "QLD", "4114"),
    ("Southport", "QLD", "4215"),
    ("Surfers Paradise", "QLD", "4217"),
    ("Toowoomba", "QLD", "4350"),
    ("Cairns", "QLD", "4870"),
    ("Townsville", "QLD", "4810"),
    ("Mackay", "QLD", "4740"),
    ("Rockhampton", "QLD", "4700"),
    ("Bundaberg", "QLD", "4670"),
    ("Maroochydore", "QLD", "4558"),
    ("Caloundra", "QLD", "4551"),
    ("Redcliffe", "QLD", "4020"),
    ("Springfield", "QLD", "4300"),
    ("Adelaide", "SA", "5000"),
    ("North Adelaide", "SA", "5006"),
    ("Glenelg", "SA", "5045"),
    ("Norwood", "SA", "5067"),
    ("Salisbury", "SA", "5108"),
    ("Elizabeth", "SA", "5112"),
    ("Mount Barker", "SA", "5251"),
    ("Port Adelaide", "SA", "5015"),
    ("Mawson Lakes", "SA", "5095"),
    ("Mount Gambier", "SA", "5290"),
    ("Whyalla", "SA", "5600"),
    ("Perth", "WA", "6000"),
    ("Fremantle", "WA", "6160"),
    ("Subiaco", "WA", "6008"),
    ("Joondalup", "WA", "6027"),
    ("Rockingham", "WA", "6168"),
    ("Mandurah", "WA", "6210"),
    ("Midland", "WA", "6056"),
    ("Armadale", "WA", "6112"),
    ("Cannington", "WA", "6107"),
    ("Bunbury", "WA", "6230"),
    ("Geraldton", "WA", "6530"),
    ("Kalgoorlie", "WA", "6430"),
    ("Scarborough", "WA", "6019"),
    ("Hobart", "TAS", "7000"),
    ("Sandy Bay", "TAS", "7005"),
    ("Glenorchy", "TAS", "7010"),
    ("Launceston", "TAS", "7250"),
    ("Devonport", "TAS", "7310"),
    ("Burnie", "TAS", "7320"),
    ("Kingston", "TAS", "7050"),
    ("Darwin", "NT", "0800"),
    ("Palmerston", "NT", "0830"),
    ("Casuarina", "NT", "0810"),
    ("Alice Springs", "NT", "0870"),
    ("Katherine", "NT", "0850"),
    ("Canberra", "ACT", "2601"),
    ("Belconnen", "ACT", "2617"),
    ("Woden", "ACT", "2606"),
    ("Greenway", "ACT", "2900"),
    ("Gungahlin", "ACT", "2912"),
    ("Braddon", "ACT", "2612"),
    ("Dickson", "ACT", "2602"),
    ("Kingston", "ACT", "2604"),
)

# Cross-Tasman staff paid from the Australian payroll.
NZ_SUBURBS: tuple[tuple[str, str, str], ...] = (
    ("Auckland Central", "AUK", "1010"),
    ("Wellington Central", "WGN", "6011"),
    ("Christchurch Central", "CAN", "8011"),
)

STREET_NAMES: tuple[str, ...] = _words(
    """
    George Pitt Elizabeth Victoria Albert King Queen William Church High Station Railway
    Park Bridge Market Beach Ocean Hill Forest River Lake Wattle Banksia Acacia Waratah
    Jacaranda Bottlebrush Grevillea Eucalyptus Kookaburra Lyrebird Magpie Currawong Macquarie
    Bligh Hunter Flinders Collins Bourke Swanston Lonsdale Adelaide Wickham Anzac Federation
    Darling Murray Lachlan Hume Sturt Kent Oxford Cambridge Regent Princes Pacific Bay
    """
)
STREET_TYPES: tuple[str, ...] = (
    "Street",
    "Street",
    "Street",
    "Road",
    "Road",
    "Avenue",
    "Parade",
    "Crescent",
    "Drive",
    "Court",
    "Place",
    "Lane",
    "Terrace",
    "Way",
    "Close",
    "Circuit",
    "Highway",
    "Esplanade",
)
UNIT_PREFIXES: tuple[str, ...] = ("Unit", "Apartment", "Flat", "Level", "Suite")

# Reserved example domains (RFC 2606): nothing generated can reach a real mailbox.
PERSONAL_EMAIL_DOMAINS: tuple[str, ...] = (
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
    "inbox.example.net",
)
WORK_EMAIL_DOMAIN = "payroll.example.com"

# Telephone area code by state (ACMA numbering plan).
AREA_CODES: dict[str, str] = {
    "NSW": "02",
    "ACT": "02",
    "VIC": "03",
    "TAS": "03",
    "QLD": "07",
    "SA": "08",
    "WA": "08",
    "NT": "08",
}

# First two BSB digits of major Australian banks; the third is the state.
BSB_BANK_PREFIXES: tuple[str, ...] = ("01", "03", "06", "08", "73", "76", "48", "63", "92")
BSB_STATE_DIGIT: dict[str, str] = {
    "NSW": "2",
    "ACT": "2",
    "VIC": "3",
    "QLD": "4",
    "SA": "5",
    "NT": "5",
    "WA": "6",
    "TAS": "7",
}
