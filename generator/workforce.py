"""Seeded employees with their leave balances and change feed, produced chunk by chunk."""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from itertools import accumulate
from typing import Any

from core.employees import PAYROLL_COLUMNS, WIDTHS
from generator import personal_data as people
from generator import reference_data as ref
from generator.identifiers import BankAccountSequence, TfnSequence, nine_digit_substrings
from generator.leave import LeaveBalances
from generator.quirks import NOT_TERMINATED, vary_code
from generator.timeline import LAST_PAY_DATE, ChangeFeed, day_text, stamp_text

Row = tuple[Any, ...]

# The contract's employee columns, in schema.sql's order: the sync reads exactly these.
EMPLOYEE_COLUMNS = PAYROLL_COLUMNS
LEAVE_BALANCE_COLUMNS = ("employee_id", "leave_type_code", "balance", "accrued_to")
EMPLOYEE_CHANGED_COLUMNS = ("change_id", "employee_id", "changed_at")

# Code columns of `employee` with their declared width (ESS's, which equal payroll's):
# a quirky copy must still fit.
_CODE_WIDTHS = {
    column: WIDTHS[column]
    for column in (
        "gender_code",
        "state_code",
        "country_code",
        "employment_type_code",
        "classification_code",
        "cost_account_code",
        "location_code",
        "pay_point_code",
        "pay_frequency_code",
        "fund_code",
    )
}
_CODE_POSITIONS = tuple((EMPLOYEE_COLUMNS.index(c), w) for c, w in _CODE_WIDTHS.items())
_FTE_HOURS = 52 * 38  # award full-time hours a year: hourly rate = salary / 1976


@dataclass
class Chunk:
    """Rows for each employee table, ready to load."""

    employees: list[Row] = field(default_factory=list)
    leave_balances: list[Row] = field(default_factory=list)
    changes: list[Row] = field(default_factory=list)


class _Weighted:
    """A weighted choice drawn with one call to random()."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.values = tuple(weights)
        self._cumulative = tuple(accumulate(weights.values()))

    def pick(self, u: float) -> str:
        return self.values[bisect(self._cumulative, u * self._cumulative[-1])]


@cache
def _ascii_slug(name: str) -> str:
    """A name as an email address can hold it: 'Zoë O'Brien' -> 'zoeobrien'."""
    decomposed = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in decomposed.lower() if ch.isalnum())


class Workforce:
    """Employees `first_id` .. `first_id + size - 1`, drawn from one seeded generator."""

    def __init__(
        self,
        rng: random.Random,
        size: int,
        *,
        quirks: bool,
        leave_types_per_employee: int,
        first_id: int = 1,
    ) -> None:
        self._rng = rng
        self._size = size
        self._first_id = first_id
        self._quirks = quirks
        abn_digits = nine_digit_substrings([f[2] for f in ref.SUPER_FUNDS])
        usi_digits = nine_digit_substrings([f[3] for f in ref.SUPER_FUNDS])
        self.tfns = TfnSequence(rng, exclude=abn_digits | usi_digits)
        self.accounts = BankAccountSequence(rng)
        self._top = min(size, 3 + size // 100_000)  # a few managers report to nobody
        self._terminated = bytearray(size + 1)
        self._feed = ChangeFeed(rng)
        self._balances = LeaveBalances(rng, leave_types_per_employee, quirks=quirks)
        self._setup_choices()

    def _setup_choices(self) -> None:
        self._funds = _Weighted(
            {f[0]: ref.FUND_WEIGHTS.get(f[0], ref.DEFAULT_FUND_WEIGHT) for f in ref.SUPER_FUNDS}
        )
        self._types = _Weighted(ref.EMPLOYMENT_TYPE_WEIGHTS)
        self._locations = _Weighted(ref.LOCATION_WEIGHTS)
        self._frequencies = _Weighted(ref.PAY_FREQUENCY_WEIGHTS)
        self._families = _Weighted(ref.CLASSIFICATION_FAMILY_WEIGHTS)
        self._pay_points = _Weighted(ref.PAY_POINT_WEIGHTS)
        self._location_state = {loc[0]: loc[2] for loc in ref.LOCATIONS}
        self._suburbs_by_state: dict[str, list[tuple[str, str, str]]] = {}
        for suburb in people.SUBURBS:
            self._suburbs_by_state.setdefault(suburb[1], []).append(suburb)
        self._active_accounts = [a[0] for a in ref.COST_ACCOUNTS if a[2] == 1]
        self._all_accounts = [a[0] for a in ref.COST_ACCOUNTS]

    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """Yield the workforce `chunk_size` employees at a time, then the feed's tail."""
        end = self._first_id + self._size
        for start in range(self._first_id, end, chunk_size):
            chunk = Chunk()
            for employee_id in range(start, min(start + chunk_size, end)):
                self._add_employee(employee_id, chunk)
            yield chunk
        tail = Chunk()
        self._feed.drain(tail.changes)
        yield tail

    def _add_employee(self, employee_id: int, chunk: Chunk) -> None:
        r = self._rng.random
        n = employee_id - self._first_id  # position in this workforce
        pay_ordinal = LAST_PAY_DATE.toordinal()

        # Ids follow hire order, as in payroll; recent years hire a little more.
        rest_of_span = 1 - (n + r()) / self._size
        years_ago = 30 * (0.6 * rest_of_span + 0.4 * rest_of_span**2)
        hired = pay_ordinal - int(years_ago * 365.25)
        weekday = date.fromordinal(hired).weekday()
        if weekday >= 5:  # nobody starts on a weekend
            hired += 7 - weekday
        oldest_age_at_hire = max(17, min(64, 68 - int(years_ago)))
        age_at_hire = 16.01 + (r() + r()) / 2 * (oldest_age_at_hire - 16.01)
        born = hired - int(age_at_hire * 365.25)

        terminated = None
        if n >= self._top and r() < 0.08:
            terminated = hired + int(r() * (pay_ordinal - hired))
            self._terminated[n] = 1

        gender = "M" if (g := r()) < 0.485 else "F" if g < 0.97 else "X" if g < 0.985 else "N"
        first, middle = self._given_names(gender)
        surname = people.SURNAMES[int(r() * len(people.SURNAMES))]
        preferred = None
        if first in people.NICKNAMES and r() < 0.3:
            preferred = self._rng.choice(people.NICKNAMES[first])
        elif r() < 0.02:
            preferred = self._rng.choice(people.ADOPTED_NAMES)
        title = None
        if (t := r()) < 0.025:
            title = "Dr"
        elif t < 0.94:
            title = self._rng.choice(people.TITLES_BY_GENDER[gender])
        age = (pay_ordinal - born) / 365.25
        marital = self._marital_status(age)

        location = self._locations.pick(r())
        home = self._address(self._location_state[location])
        slug = f"{_ascii_slug(preferred or first)}.{_ascii_slug(surname)}"
        personal_email = None
        if r() < 0.85:
            domain = people.PERSONAL_EMAIL_DOMAINS[int(r() * 5)]
            personal_email = f"{slug}{int(r() * 100)}@{domain}"
        work_email = f"{slug}{employee_id}@{people.WORK_EMAIL_DOMAIN}" if r() < 0.9 else None
        digits = f"{int(r() * 10**8):08d}"
        mobile = f"04{digits[:2]} {digits[2:5]} {digits[5:]}" if r() < 0.92 else None
        phone = None
        if home[3] in people.AREA_CODES and r() < 0.25:
            local = f"{3 + int(r() * 7)}{int(r() * 10**7):07d}"
            phone = f"({people.AREA_CODES[home[3]]}) {local[:4]} {local[4:]}"

        employment = self._types.pick(r())
        family = self._families.pick(r()) if n >= self._top else "EXEC"
        classification = f"{family}{1 + int(ref.CLASSIFICATION_LEVELS[family] * r() ** 1.6)}"
        accounts = self._active_accounts if r() < 0.98 else self._all_accounts
        cost_account = accounts[int(r() * len(accounts))]
        pay_point: str | None = self._pay_points.pick(r())
        if family == "EXEC":
            pay_point, frequency = "EXEC", "M"
        else:
            frequency = self._frequencies.pick(r())
            if employment in "LN":
                pay_point = "CONTRACT"
            elif r() < 0.03:
                pay_point = None
        fund = self._funds.pick(r())
        member = None
        if r() < 0.95:
            member = f"{int(r() * 10**8):08d}" if r() < 0.7 else f"{fund[:2]}{int(r() * 10**6):06d}"
        salary, rate = self._pay(classification, employment)

        tfn = self.tfns.draw() if r() < 0.98 else None
        bsb = account = None
        if r() < 0.98:
            bank = people.BSB_BANK_PREFIXES[int(r() * len(people.BSB_BANK_PREFIXES))]
            state_digit = people.BSB_STATE_DIGIT.get(home[3] or "", "2")
            bsb = f"{bank}{state_digit}{int(r() * 1000):03d}"
            account = self.accounts.draw()

        last_modified = self._feed.record(employee_id, hired, terminated, chunk.changes)
        if terminated is not None:
            termination_date: str | None = day_text(terminated)
        elif self._quirks and r() < 0.3:
            termination_date = NOT_TERMINATED
        else:
            termination_date = None

        row = [
            employee_id,
            f"E{employee_id:06d}",
            title,
            first,
            middle,
            preferred,
            surname,
            gender if r() > 0.005 else None,
            day_text(born),
            marital,
            personal_email,
            work_email,
            mobile,
            phone,
            home[0],
            home[1],
            home[2],
            home[3],
            home[4],
            home[5],
            day_text(hired),
            termination_date,
            employment,
            classification,
            cost_account,
            location,
            pay_point,
            frequency,
            fund,
            member,
            salary,
            rate,
            tfn,
            0 if r() < 0.15 else 1,
            bsb,
            account,
            self._manager_code(n),
            stamp_text(last_modified),
        ]
        if self._quirks and r() < 0.05:
            self._vary_codes(row)
        chunk.employees.append(tuple(row))
        self._balances.add(
            employee_id, employment, frequency, years_ago, terminated, chunk.leave_balances
        )

    def _given_names(self, gender: str) -> tuple[str, str | None]:
        r = self._rng.random
        if gender == "M":
            names: Sequence[str] = people.MALE_FIRST_NAMES
        elif gender == "F":
            names = people.FEMALE_FIRST_NAMES
        else:
            names = people.NEUTRAL_FIRST_NAMES
        first = names[int(r() * len(names))]
        if r() < 0.01:
            first = people.UNUSUAL_FIRST_NAMES[int(r() * len(people.UNUSUAL_FIRST_NAMES))]
        middle = names[int(r() * len(names))] if r() < 0.55 else None
        return first, middle if middle != first else None

    def _marital_status(self, age: float) -> str | None:
        u = self._rng.random()
        if age < 25:
            return "S" if u < 0.85 else "P" if u < 0.95 else "M"
        for status, threshold in (("S", 0.3), ("M", 0.75), ("P", 0.87), ("D", 0.95), ("W", 0.97)):
            if u < threshold:
                return status
        return "U" if u < 0.99 else None

    def _address(self, work_state: str) -> tuple[str | None, ...]:
        """line1, line2, suburb, state, postcode, country: mostly near where they work."""
        r = self._rng.random
        if r() < 0.03:
            return (None, None, None, None, None, "AUS")
        if r() < 0.005:
            suburb, state, postcode = self._rng.choice(people.NZ_SUBURBS)
            country = "NZL"
        else:
            nearby = self._suburbs_by_state[work_state] if r() < 0.9 else people.SUBURBS
            suburb, state, postcode = nearby[int(r() * len(nearby))]
            country = "AUS"
        street_name = people.STREET_NAMES[int(r() * len(people.STREET_NAMES))]
        street_type = people.STREET_TYPES[int(r() * len(people.STREET_TYPES))]
        street = f"{1 + int(r() ** 2 * 250)} {street_name} {street_type}"
        if r() < 0.12:
            unit = f"{people.UNIT_PREFIXES[int(r() * 5)]} {1 + int(r() * 40)}"
            return (unit, street, suburb, state, postcode, country)
        return (street, None, suburb, state, postcode, country)

    def _pay(self, classification: str, employment: str) -> tuple[str | None, str]:
        """Yearly salary (NULL for casuals) and hourly rate, as exact decimal strings."""
        r = self._rng.random
        # 95% to 115% of the classification's base, in cents; most are whole dollars.
        full_time_cents = int(ref.CLASSIFICATION_SALARY[classification] * (95 + r() * 20))
        if r() < 0.6:
            full_time_cents -= full_time_cents % 100
        rate = (full_time_cents * 100 + _FTE_HOURS // 2) // _FTE_HOURS  # ten-thousandths
        if employment == "C":
            rate = rate * 5 // 4  # the 25% casual loading
            return None, f"{rate // 10_000}.{rate % 10_000:04d}"
        cents = full_time_cents if employment != "P" else full_time_cents * (4 + int(r() * 6)) // 10
        return f"{cents // 100}.{cents % 100:02d}", f"{rate // 10_000}.{rate % 10_000:04d}"

    def _manager_code(self, n: int) -> str | None:
        """An earlier employee, so the hierarchy has no cycles; active ones preferred."""
        if n < self._top:
            return None
        r = self._rng.random
        for _ in range(3):
            manager = int(r() * max(self._top, n // 8))
            if not self._terminated[manager]:
                break
        return f"E{self._first_id + manager:06d}"

    def _vary_codes(self, row: list[Any]) -> None:
        r = self._rng.random
        for _ in range(1 + int(r() * 3)):
            position, width = _CODE_POSITIONS[int(r() * len(_CODE_POSITIONS))]
            if row[position] is not None:
                row[position] = vary_code(row[position].strip().upper(), width, r())
