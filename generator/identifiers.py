"""Australian identifiers: check digits, and seeded streams of numbers that never repeat."""

from __future__ import annotations

import math
import operator
import random
import re
from collections.abc import Collection

TFN_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)

# Tests look for TFNs in logs, so a TFN must not be a string that turns up by chance.
_MONOTONOUS = re.compile(r"(\d)\1\1|0123|1234|2345|3456|4567|5678|6789|9876|8765|7654|6543|5432")


def is_valid_tfn(value: str) -> bool:
    """Whether `value` is nine digits that pass the ATO's TFN check-digit algorithm."""
    if len(value) != 9 or not value.isdigit():
        return False
    return sum(map(operator.mul, TFN_WEIGHTS, map(int, value))) % 11 == 0


def is_valid_abn(value: str) -> bool:
    """Whether `value` is eleven digits that pass the ABR's ABN check-digit algorithm."""
    if len(value) != 11 or not value.isdigit():
        return False
    digits = [int(d) for d in value]
    digits[0] -= 1
    return sum(w * d for w, d in zip(ABN_WEIGHTS, digits, strict=True)) % 89 == 0


def _coprime_below(size: int, rng: random.Random) -> int:
    while True:
        candidate = rng.randrange(size // 3, size)
        if math.gcd(candidate, size) == 1:
            return candidate


class TfnSequence:
    """Distinct, valid, distinctive tax file numbers in a seeded order."""

    _SIZE = 10**8  # the eight digits before the check digit

    def __init__(self, rng: random.Random, exclude: Collection[str] = ()) -> None:
        self._outer = (_coprime_below(self._SIZE, rng), rng.randrange(self._SIZE))
        self._inner = (_coprime_below(self._SIZE, rng), rng.randrange(self._SIZE))
        self._exclude = frozenset(exclude)
        self._next = 0

    def draw(self) -> str:
        """The next TFN; none is returned twice by one sequence."""
        (a, b), (c, d) = self._outer, self._inner
        while self._next < self._SIZE:
            k = self._next
            self._next += 1
            # Two affine permutations around a digit reversal: still a permutation of
            # the 8-digit bodies, so no TFN repeats, without an arithmetic pattern.
            reversed_body = int(f"{(a * k + b) % self._SIZE:08d}"[::-1])
            body = f"{(c * reversed_body + d) % self._SIZE:08d}"
            if body[0] == "0":
                continue
            check = sum(map(operator.mul, TFN_WEIGHTS, map(int, body))) % 11
            if check == 10:
                continue
            tfn = f"{body}{check}"
            if _MONOTONOUS.search(tfn) or tfn in self._exclude:
                continue
            return tfn
        raise RuntimeError("the TFN sequence is exhausted")


class BankAccountSequence:
    """Distinct bank account numbers of 6 to 9 digits in a seeded order."""

    _LENGTHS = (6, 7, 8, 9)
    _LENGTH_WEIGHTS = (1, 1, 3, 5)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._affine = {
            length: (_coprime_below(9 * 10 ** (length - 1), rng), rng.randrange(10**length))
            for length in self._LENGTHS
        }
        self._next = dict.fromkeys(self._LENGTHS, 0)

    def draw(self) -> str:
        """The next account number; none is returned twice by one sequence."""
        (length,) = self._rng.choices(self._LENGTHS, self._LENGTH_WEIGHTS)
        a, b = self._affine[length]
        size = 9 * 10 ** (length - 1)
        while self._next[length] < size:
            k = self._next[length]
            self._next[length] += 1
            account = str(10 ** (length - 1) + (a * k + b) % size)
            # A nine-digit account that is also a valid TFN would confuse a TFN scan.
            if length == 9 and is_valid_tfn(account):
                continue
            return account
        raise RuntimeError(f"the {length}-digit account sequence is exhausted")


def nine_digit_substrings(values: Collection[str | None]) -> set[str]:
    """Every run of nine characters inside `values` (to keep TFNs out of other numbers)."""
    return {
        value[start : start + 9]
        for value in values
        if value is not None
        for start in range(len(value) - 8)
    }
