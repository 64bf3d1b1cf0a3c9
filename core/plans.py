"""Which plan a sync of changes reads payroll by: the feed's employees by id, or everyone."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

# Measured with `python -m bench.threshold` (payroll and ESS on PostgreSQL, the loaded 2-core
# machine, changes-read ÷ full read back to back from the same ESS): 20,000 employees: 5% 0.07,
# 10% 0.13, 20% 0.24, 30% 0.43, 50% 1.22; 200,000: 30% 0.71. Reading by id grows faster than
# linearly and crosses a full read near 40%; the plan switches a little before.
FULL_READ_FROM = 0.35
"""The share of ESS's employees a change feed may name before reading everyone is cheaper,
where a full read compares in Python (an ESS on SQLite or SQL Server)."""

# Measured again with ESS's lookups imported first (before, every employee carried a warning
# for each lookup code, and writing those issues swamped both plans), 200,000 employees: a full
# read compared in Python (`--compare-in-python`) 20% 0.53, 30% 0.76, 40% 0.99, 50% 1.12, which
# keeps 35%; compared by ESS's server (ess/store/employees.py ServerComparison) 10% 0.43,
# 20% 0.73, 30% 1.09, 40% 1.40: a cheaper full read, so the lines cross near 28%.
FULL_READ_FROM_IN_SERVER = 0.25
"""FULL_READ_FROM where a full read is compared by ESS's server (PostgreSQL)."""

DENSE_RUN = 64
"""Consecutive payroll ids read as one key range (BETWEEN) rather than listed by id."""


SMALL_PAYROLL = 5_000
"""Below this many employees in ESS both plans take well under a second: read by id."""


def reads_everyone(
    named: int, held: int, threshold: float = FULL_READ_FROM, smallest: int = SMALL_PAYROLL
) -> bool:
    """Whether a feed naming `named` employees, of `held` in ESS, is cheaper read in full.

    A payroll smaller than `smallest` keeps reading by id: either plan costs milliseconds
    there, and its log stays the one of a sync of changes.
    """
    # An empty ESS has nothing to weigh the feed against: its own first-import path decides.
    return held > 0 and held >= smallest and named >= threshold * held


def worth_counting(named: int, threshold: float = FULL_READ_FROM) -> int:
    """How many of ESS's employees reads_everyone needs counted to decide for `named`.

    Past this many the feed is too small a share to read in full, however many more ESS
    holds: counting stops there (a pay run's 2,000 changes count 5,715 rows, not 200,000).
    """
    return math.floor(named / threshold) + 1


def runs(ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Sorted, distinct ids as (first, last) runs of consecutive ids."""
    start = 0
    while start < len(ids):
        end = start
        while end + 1 < len(ids) and ids[end + 1] == ids[end] + 1:
            end += 1
        yield ids[start], ids[end]
        start = end + 1


def id_runs(ids: Sequence[int], dense: int = DENSE_RUN) -> Iterator[tuple[int, int] | list[int]]:
    """Sorted ids as (first, last) key ranges where `dense` or more run on, the rest as lists."""
    loose: list[int] = []
    for first, last in runs(ids):
        if last - first + 1 >= dense:
            if loose:
                yield loose
                loose = []
            yield first, last
        else:
            loose.extend(range(first, last + 1))
    if loose:
        yield loose
