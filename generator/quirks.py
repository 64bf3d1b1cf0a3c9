"""How real payroll data bends its own rules (generator/CONTRACT.md), while staying valid."""

from __future__ import annotations

# Payroll's "not terminated", besides NULL.
NOT_TERMINATED = "1900-01-01"


def vary_code(code: str, width: int, u: float) -> str:
    """`code` as payroll sometimes stores it: in another case and/or padded with spaces.

    The variant never exceeds `width`, the column's declared length, so it loads on
    PostgreSQL too; trimmed and upper-cased it is `code` again.
    """
    candidates = [code.lower(), code.title()]
    if len(code) < width:
        padding = " " * (1 + int(u * 7) % (width - len(code)))
        candidates += [code + padding, code.lower() + " "]
    # dict, not set: the order must not depend on string hashing, or runs would differ.
    variants = list(dict.fromkeys(v for v in candidates if v != code and len(v) <= width))
    return variants[int(u * len(variants))] if variants else code
