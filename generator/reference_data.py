"""Payroll's lookup tables: static Australian reference data the generator loads as-is."""

from __future__ import annotations

from typing import Any

Row = tuple[Any, ...]

COUNTRIES: tuple[Row, ...] = (
    ("AUS", "Australia"),
    ("NZL", "New Zealand"),
    ("GBR", "United Kingdom"),
    ("IRL", "Ireland"),
    ("USA", "United States of America"),
    ("CAN", "Canada"),
    ("IND", "India"),
    ("PHL", "Philippines"),
    ("CHN", "China"),
    ("VNM", "Viet Nam"),
    ("MYS", "Malaysia"),
    ("SGP", "Singapore"),
    ("ZAF", "South Africa"),
    ("FJI", "Fiji"),
    ("PNG", "Papua New Guinea"),
)

STATES: tuple[Row, ...] = (
    ("AUS", "NSW", "New South Wales"),
    ("AUS", "VIC", "Victoria"),
    ("AUS", "QLD", "Queensland"),
    ("AUS", "SA", "South Australia"),
    ("AUS", "WA", "Western Australia"),
    ("AUS", "TAS", "Tasmania"),
    ("AUS", "NT", "Northern Territory"),
    ("AUS", "ACT", "Australian Capital Territory"),
    ("AUS", "OTH", "Other Territories and Overseas"),
    ("NZL", "AUK", "Auckland"),
    ("NZL", "WGN", "Wellington"),
    ("NZL", "CAN", "Canterbury"),
)

GENDERS: tuple[Row, ...] = (
    ("M", "Male"),
    ("F", "Female"),
    ("X", "Indeterminate, intersex or unspecified"),
    ("N", "Not stated"),
)

# fund_code, fund_name, abn, usi, is_smsf, is_active. ABNs pass the ABR check digit;
# they and the USIs are made up. SMSFs have no USI (payroll pays them by ESA).
SUPER_FUNDS: tuple[Row, ...] = (
    ("AUSSUPER", "AustralianSuper", "78541082341", "78541082341011", 0, 1),
    ("ART", "Australian Retirement Trust", "55013086458", "55013086458010", 0, 1),
    ("AWARE", "Aware Super", "91848241150", "91848241150014", 0, 1),
    ("UNISUPER", "UniSuper", "30742844728", "30742844728007", 0, 1),
    ("HOSTPLUS", "Hostplus", "55094270734", "HOS0100AU", 0, 1),
    ("CBUS", "Cbus Super", "38110047588", "CBU0100AU", 0, 1),
    ("HESTA", "HESTA", "97035720364", "HES0100AU", 0, 1),
    ("REST", "Rest Super", "85687792596", "RES0103AU", 0, 1),
    ("CFSFC", "Colonial First State FirstChoice Super", "28566198747", "28566198747016", 0, 1),
    ("MLCMK", "MLC MasterKey Super", "92908919550", "92908919550018", 0, 1),
    ("AMPSUPER", "AMP Super Fund", "38237063301", "38237063301011", 0, 1),
    ("CARESUPER", "CareSuper", "25186329713", "CAR0100AU", 0, 1),
    ("MERCER", "Mercer Super Trust", "94638937924", "94638937924010", 0, 1),
    ("BRIGHTER", "Brighter Super", "41091007014", "41091007014017", 0, 1),
    ("VISION", "Vision Super", "54367235308", "54367235308002", 0, 1),
    ("PRIME", "Prime Super", "19155428855", "19155428855002", 0, 1),
    ("LEGALSUPER", "Legalsuper", "97778187716", "97778187716007", 0, 1),
    ("NGS", "NGS Super", "45331959756", "NGS0001AU", 0, 1),
    ("ACS", "Australian Catholic Superannuation", "99771380145", "99771380145007", 0, 1),
    ("EQUIP", "Equip Super", "31259948976", "31259948976017", 0, 1),
    ("MINESUPER", "Mine Super", "83727576574", "83727576574011", 0, 1),
    ("TELSTRA", "TelstraSuper", "92131761755", "92131761755016", 0, 1),
    ("QANTAS", "Qantas Super", "79538616699", "79538616699011", 0, 1),
    ("CSC", "CSC PSSap", "95663011177", "95663011177015", 0, 1),
    ("ESSSUPER", "ESSSuper", "25289372222", "25289372222007", 0, 1),
    ("GESB", "GESB Super", "46317338078", "46317338078008", 0, 1),
    ("VANGUARD", "Vanguard Super", "19500078617", "19500078617014", 0, 1),
    ("HUB24", "HUB24 Super Fund", "11942667334", "11942667334010", 0, 1),
    ("NETWEALTH", "Netwealth Superannuation Master Fund", "43790919842", "43790919842007", 0, 1),
    ("BTSUPER", "BT Super", "44810954796", "44810954796004", 0, 1),
    ("MACQWRAP", "Macquarie Wrap Super", "17398571083", "17398571083011", 0, 1),
    ("TWUSUPER", "TWUSUPER", "58760005822", "58760005822005", 0, 1),
    ("AUSTSAFE", "AustSafe Super", "16210028620", "16210028620002", 0, 1),
    ("FIRSTSUPER", "First Super", "25329706986", "25329706986011", 0, 1),
    ("LUCRF", "LUCRF Super", "36162649153", "36162649153005", 0, 0),
    ("SUNSUPER", "Sunsuper", "78737567696", "78737567696017", 0, 0),
    ("MEDIASUPER", "Media Super", "12305352534", "12305352534007", 0, 1),
    ("SMSFPATEL", "Patel Family Superannuation Fund", "22094054758", None, 1, 1),
    ("SMSFNGUYEN", "Nguyen Retirement Fund", "90998292565", None, 1, 1),
    ("SMSFOCON", "O'Connor Family Super Fund", "30329581227", None, 1, 1),
)

# How often a new employee names each fund: the big industry funds dominate.
FUND_WEIGHTS: dict[str, float] = {
    "AUSSUPER": 18,
    "ART": 14,
    "AWARE": 10,
    "HOSTPLUS": 8,
    "REST": 8,
    "CBUS": 6,
    "HESTA": 6,
    "UNISUPER": 5,
    "CFSFC": 4,
    "LUCRF": 0.3,
    "SUNSUPER": 0.4,
    "MEDIASUPER": 0.3,
    "SMSFPATEL": 0.1,
    "SMSFNGUYEN": 0.1,
    "SMSFOCON": 0.1,
}
DEFAULT_FUND_WEIGHT = 1.0

_DEPARTMENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("100", "Executive", ("Office of the CEO", "Board Secretariat", "Strategy")),
    (
        "200",
        "Finance",
        (
            "Accounts Payable",
            "Accounts Receivable",
            "Payroll",
            "Financial Control",
            "Treasury",
            "Tax",
        ),
    ),
    (
        "300",
        "People and Culture",
        ("HR Operations", "Recruitment", "Learning and Development", "Work Health and Safety"),
    ),
    (
        "400",
        "Technology",
        ("Infrastructure", "Applications", "Service Desk", "Cyber Security", "Data and Analytics"),
    ),
    (
        "500",
        "Retail Operations",
        (
            "NSW Stores",
            "VIC Stores",
            "QLD Stores",
            "SA and NT Stores",
            "WA Stores",
            "TAS Stores",
            "ACT Stores",
            "Online",
        ),
    ),
    (
        "600",
        "Supply Chain",
        (
            "Distribution Centre East",
            "Distribution Centre West",
            "Transport",
            "Inventory Control",
            "Procurement",
        ),
    ),
    (
        "700",
        "Health Services",
        ("Aged Care Residential", "Home Care", "Nursing", "Allied Health", "Disability Support"),
    ),
    ("800", "Hospitality", ("Venues", "Catering", "Events")),
    (
        "900",
        "Sales and Marketing",
        ("Marketing", "Corporate Sales", "Customer Service", "Contact Centre"),
    ),
    (
        "950",
        "Property and Facilities",
        ("Facilities", "Cleaning Services", "Security", "Maintenance"),
    ),
)
_INACTIVE_ACCOUNTS = frozenset({"100-3030", "500-8080", "950-4040"})

# account_code, description, is_active
COST_ACCOUNTS: tuple[Row, ...] = tuple(
    (
        f"{dept}-{n}0{n}0",
        f"{name} - {team}",
        0 if f"{dept}-{n}0{n}0" in _INACTIVE_ACCOUNTS else 1,
    )
    for dept, name, teams in _DEPARTMENTS
    for n, team in enumerate(teams, start=1)
)

# prefix, description, award (None: award free), levels, base salary, step per level
_CLASSIFICATION_FAMILIES: tuple[tuple[str, str, str | None, int, int, int], ...] = (
    ("CLK", "Clerk Level {}", "MA000002", 5, 49_000, 3_500),
    ("RET", "Retail Employee Level {}", "MA000004", 8, 49_000, 2_000),
    ("HOSP", "Hospitality Employee Grade {}", "MA000009", 6, 48_000, 2_500),
    ("FF", "Fast Food Employee Level {}", "MA000003", 3, 47_000, 1_500),
    ("MFG", "Manufacturing Employee Level C{}", "MA000010", 4, 50_000, 3_000),
    ("STO", "Storeworker Grade {}", "MA000084", 5, 50_000, 2_500),
    ("RTD", "Transport Worker Grade {}", "MA000038", 4, 52_000, 2_500),
    ("AGED", "Aged Care Employee Level {}", "MA000018", 4, 51_000, 3_000),
    ("NURS", "Registered Nurse Level {}", "MA000034", 5, 70_000, 8_000),
    ("SCHADS", "Social and Community Services Employee Level {}", "MA000100", 5, 55_000, 6_000),
    ("HP", "Health Professional Level {}", "MA000027", 4, 70_000, 12_000),
    ("CLN", "Cleaning Services Employee Level {}", "MA000022", 3, 48_000, 2_000),
    ("SEC", "Security Officer Level {}", "MA000016", 3, 50_000, 2_500),
    ("PROF", "Professional Employee Level {}", "MA000065", 4, 75_000, 15_000),
    ("MGR", "Manager Band {} (award free)", None, 3, 120_000, 30_000),
    ("EXEC", "Executive Band {} (award free)", None, 2, 240_000, 120_000),
)

# classification_code, description, award_code
JOB_CLASSIFICATIONS: tuple[Row, ...] = tuple(
    (f"{prefix}{level}", template.format(level), award)
    for prefix, template, award, levels, _, _ in _CLASSIFICATION_FAMILIES
    for level in range(1, levels + 1)
)

# classification_code -> base yearly salary in whole dollars
CLASSIFICATION_SALARY: dict[str, int] = {
    f"{prefix}{level}": base + step * (level - 1)
    for prefix, _, _, levels, base, step in _CLASSIFICATION_FAMILIES
    for level in range(1, levels + 1)
}

CLASSIFICATION_LEVELS: dict[str, int] = {
    prefix: levels for prefix, _, _, levels, _, _ in _CLASSIFICATION_FAMILIES
}

# How many of a workforce each family employs; lower levels are more common within one.
CLASSIFICATION_FAMILY_WEIGHTS: dict[str, float] = {
    "CLK": 14,
    "RET": 24,
    "HOSP": 8,
    "FF": 4,
    "MFG": 4,
    "STO": 8,
    "RTD": 4,
    "AGED": 6,
    "NURS": 4,
    "SCHADS": 5,
    "HP": 3,
    "CLN": 3,
    "SEC": 2,
    "PROF": 4,
    "MGR": 3,
    "EXEC": 0.3,
}

# STP Phase 2 employment basis codes.
EMPLOYMENT_TYPES: tuple[Row, ...] = (
    ("F", "Full time"),
    ("P", "Part time"),
    ("C", "Casual"),
    ("L", "Labour hire"),
    ("V", "Voluntary agreement"),
    ("D", "Death beneficiary"),
    ("N", "Non-employee"),
)
EMPLOYMENT_TYPE_WEIGHTS: dict[str, float] = {
    "F": 55,
    "P": 20,
    "C": 22,
    "L": 1.5,
    "V": 0.5,
    "D": 0.2,
    "N": 0.8,
}

# location_code, description, state_code
LOCATIONS: tuple[Row, ...] = (
    ("SYDHO", "Sydney Head Office", "NSW"),
    ("PARRA", "Parramatta", "NSW"),
    ("NEWC", "Newcastle", "NSW"),
    ("WOLL", "Wollongong", "NSW"),
    ("WAGGA", "Wagga Wagga", "NSW"),
    ("MELB", "Melbourne CBD", "VIC"),
    ("DANDDC", "Dandenong South Distribution Centre", "VIC"),
    ("GEEL", "Geelong", "VIC"),
    ("BRIS", "Brisbane", "QLD"),
    ("GCST", "Gold Coast", "QLD"),
    ("TSV", "Townsville", "QLD"),
    ("CNS", "Cairns", "QLD"),
    ("ADL", "Adelaide", "SA"),
    ("PER", "Perth", "WA"),
    ("KEWDC", "Kewdale Distribution Centre", "WA"),
    ("HBA", "Hobart", "TAS"),
    ("LST", "Launceston", "TAS"),
    ("DRW", "Darwin", "NT"),
    ("ASP", "Alice Springs", "NT"),
    ("CBR", "Canberra", "ACT"),
)
LOCATION_WEIGHTS: dict[str, float] = {
    "SYDHO": 14,
    "PARRA": 9,
    "NEWC": 4,
    "WOLL": 3,
    "WAGGA": 1,
    "MELB": 14,
    "DANDDC": 6,
    "GEEL": 3,
    "BRIS": 10,
    "GCST": 4,
    "TSV": 2,
    "CNS": 2,
    "ADL": 7,
    "PER": 9,
    "KEWDC": 3,
    "HBA": 2,
    "LST": 1,
    "DRW": 1.5,
    "ASP": 0.5,
    "CBR": 3,
}

PAY_POINTS: tuple[Row, ...] = (
    ("HO", "Head Office"),
    ("STORES", "Retail Stores"),
    ("DC", "Distribution Centres"),
    ("CASUAL", "Casual Pool"),
    ("EXEC", "Executive Payroll"),
    ("FIELD", "Field Services"),
    ("HEALTH", "Health and Community Services"),
    ("HOSP", "Hospitality Venues"),
    ("CONTRACT", "Contractors and Labour Hire"),
    ("TRAIN", "Apprentices and Trainees"),
)
# Retail stores and head office employ most; contractors are paid from their own point.
PAY_POINT_WEIGHTS: dict[str, float] = {
    "STORES": 30,
    "HO": 20,
    "DC": 10,
    "CASUAL": 10,
    "HEALTH": 8,
    "HOSP": 8,
    "FIELD": 6,
    "TRAIN": 3,
    "CONTRACT": 2,
}

# leave_type_code, description, category, unit
LEAVE_TYPES: tuple[Row, ...] = (
    ("AL", "Annual Leave", "AnnualLeave", "H"),
    ("PCL", "Personal/Carer's Leave", "SickLeave", "H"),
    ("LSL", "Long Service Leave", "LongServiceLeave", "H"),
    ("RDO", "Rostered Day Off", "UserDefinedLeave", "D"),
    ("TOIL", "Time Off In Lieu", "UserDefinedLeave", "H"),
    ("PPL", "Paid Parental Leave", "UserDefinedLeave", "D"),
    ("STUDY", "Study Leave", "UserDefinedLeave", "H"),
    ("PURCH", "Purchased Leave", "UserDefinedLeave", "H"),
)

# Typical balance range per leave type, in ten-thousandths of its unit, and how often
# it is negative (leave taken in advance). Long service leave follows years of service.
LEAVE_BALANCE_RANGES: dict[str, tuple[int, int, float]] = {
    "AL": (0, 3_040_000, 0.04),
    "PCL": (0, 4_560_000, 0.01),
    "RDO": (0, 60_000, 0.02),
    "TOIL": (0, 400_000, 0.0),
    "PPL": (0, 900_000, 0.0),
    "STUDY": (0, 380_000, 0.0),
    "PURCH": (0, 760_000, 0.0),
}

# leave_type_code, reason_code, description
LEAVE_REASONS: tuple[Row, ...] = (
    ("AL", "HOL", "Holiday"),
    ("AL", "XMAS", "Christmas shutdown"),
    ("AL", "TRAVEL", "Overseas travel"),
    ("AL", "CASHOUT", "Cashed out by agreement"),
    ("PCL", "SICK", "Personal illness or injury"),
    ("PCL", "CARER", "Caring for a family or household member"),
    ("PCL", "MEDAPT", "Medical appointment"),
    ("PCL", "COMPASS", "Compassionate leave"),
    ("LSL", "LSL", "Long service leave"),
    ("LSL", "LSLHALF", "Long service leave at half pay"),
    ("LSL", "CASHOUT", "Long service leave cashed out"),
    ("RDO", "RDO", "Rostered day off"),
    ("RDO", "BANKED", "Banked rostered day off"),
    ("TOIL", "TOIL", "Time off in lieu of overtime"),
    ("TOIL", "TRAVEL", "Time off in lieu of travel time"),
    ("PPL", "BIRTH", "Birth of a child"),
    ("PPL", "ADOPT", "Adoption of a child"),
    ("PPL", "PARTNER", "Partner leave"),
    ("STUDY", "EXAM", "Examination"),
    ("STUDY", "CLASS", "Attending classes"),
    ("PURCH", "PURCH", "Purchased leave"),
)

# frequency_code, description, periods_per_year
PAY_FREQUENCIES: tuple[Row, ...] = (
    ("W", "Weekly", 52),
    ("F", "Fortnightly", 26),
    ("4", "Four-weekly", 13),
    ("S", "Semi-monthly", 24),
    ("M", "Monthly", 12),
)
PAY_FREQUENCY_WEIGHTS: dict[str, float] = {"W": 15, "F": 62, "4": 3, "S": 2, "M": 18}

LOOKUP_ROWS: dict[str, tuple[Row, ...]] = {
    "country": COUNTRIES,
    "state": STATES,
    "gender": GENDERS,
    "super_fund": SUPER_FUNDS,
    "cost_account": COST_ACCOUNTS,
    "job_classification": JOB_CLASSIFICATIONS,
    "employment_type": EMPLOYMENT_TYPES,
    "location": LOCATIONS,
    "pay_point": PAY_POINTS,
    "leave_type": LEAVE_TYPES,
    "leave_reason": LEAVE_REASONS,
    "pay_frequency": PAY_FREQUENCIES,
}
