"""Helpers the tests share: the payroll schema and rows to put in it; the browser's launch;
a fresh interpreter started in the repository; a wait for something another thread or
process does."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent

T = TypeVar("T")
SHARED_SCHEMA = REPO.parent / "shared" / "payroll" / "schema.sql"
VENDORED_SCHEMA = REPO / "generator" / "schema.sql"
# Debian's Chromium, driven by Playwright: CI reaches no host that serves browser builds.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run_python(
    *argv: str, env: Mapping[str, str] | None = None, without: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`python ARGV` in a fresh interpreter, in the repository, with this environment plus
    `env` and less the variables `without`; its output captured as text."""
    environ = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in without:
        environ.pop(name, None)
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=120,
    )


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} missing (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install playwright)"
    return None


def payroll_schema_sql() -> list[str]:
    """The payroll DDL statements (the vendored copy of shared/payroll/schema.sql)."""
    text = VENDORED_SCHEMA.read_text()
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def insert_rows(url: str, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Put rows into a payroll table, as payroll itself would."""
    _insert_tables(url, {table: list(rows)})


def _insert_tables(url: str, tables: Mapping[str, list[Mapping[str, Any]]]) -> None:
    """Rows into several payroll tables in one transaction: the tables read once, together
    (reflecting one table at a time on a new engine each cost PostgreSQL ~40 ms a table)."""
    tables = {table: rows for table, rows in tables.items() if rows}
    if not tables:
        return
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine, only=list(tables))
    with engine.begin() as conn:
        for table, rows in tables.items():
            conn.execute(sa.insert(meta.tables[table]), rows)
    engine.dispose()


def execute(url: str, sql: str, params: Mapping[str, Any] | None = None) -> None:
    """Run one statement on a payroll database (as payroll's officers would change it)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params or {})
    engine.dispose()


def query_rows(url: str, sql: str) -> list[Any]:
    """Every row one query returns from a payroll database (to compare with ESS)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(sql)).all())
    engine.dispose()
    return rows


BASIC_LOOKUPS: dict[str, list[dict[str, Any]]] = {
    "country": [
        {"country_code": "AUS", "description": "Australia"},
        {"country_code": "NZL", "description": "New Zealand"},
    ],
    "state": [
        {"country_code": "AUS", "state_code": "NSW", "description": "New South Wales"},
        {"country_code": "AUS", "state_code": "VIC", "description": "Victoria"},
        {"country_code": "AUS", "state_code": "QLD", "description": "Queensland"},
    ],
    "gender": [
        {"gender_code": "M", "description": "Male"},
        {"gender_code": "F", "description": "Female"},
        {"gender_code": "X", "description": "Indeterminate/Intersex/Unspecified"},
    ],
    "super_fund": [
        {
            "fund_code": "AUSSUP",
            "fund_name": "AustralianSuper",
            "abn": "65714394898",
            "usi": "STA0100AU",
            "is_smsf": 0,
            "is_active": 1,
        },
        {
            "fund_code": "HOSTPLUS",
            "fund_name": "Hostplus",
            "abn": "68657495890",
            "usi": "HOS0100AU",
            "is_smsf": 0,
            "is_active": 1,
        },
        {
            "fund_code": "SMSF01",
            "fund_name": "Nguyen Family Super Fund",
            "abn": "12345678901",
            "usi": None,
            "is_smsf": 1,
            "is_active": 1,
        },
    ],
    "cost_account": [
        {"account_code": "100-ADMIN", "description": "Administration", "is_active": 1},
        {"account_code": "200-OPS", "description": "Operations", "is_active": 1},
    ],
    "job_classification": [
        {"classification_code": "CLK2", "description": "Clerk Level 2", "award_code": "MA000002"},
    ],
    "employment_type": [
        {"employment_type_code": "F", "description": "Full-time"},
        {"employment_type_code": "P", "description": "Part-time"},
        {"employment_type_code": "C", "description": "Casual"},
    ],
    "location": [
        {"location_code": "SYD", "description": "Sydney Head Office", "state_code": "NSW"},
        {"location_code": "MEL", "description": "Melbourne", "state_code": "VIC"},
    ],
    "pay_point": [{"pay_point_code": "HO", "description": "Head Office"}],
    "leave_type": [
        {
            "leave_type_code": "AL",
            "description": "Annual Leave",
            "category": "AnnualLeave",
            "unit": "H",
        },
        {
            "leave_type_code": "SL",
            "description": "Personal/Carer's Leave",
            "category": "SickLeave",
            "unit": "H",
        },
    ],
    "leave_reason": [
        {"leave_type_code": "AL", "reason_code": "HOL", "description": "Holiday"},
        {"leave_type_code": "SL", "reason_code": "ILL", "description": "Illness"},
        {"leave_type_code": "SL", "reason_code": "CAR", "description": "Carer's leave"},
    ],
    "pay_frequency": [
        {"frequency_code": "W", "description": "Weekly", "periods_per_year": 52},
        {"frequency_code": "F", "description": "Fortnightly", "periods_per_year": 26},
        {"frequency_code": "M", "description": "Monthly", "periods_per_year": 12},
    ],
}


def fill_lookups(url: str, lookups: Mapping[str, list[dict[str, Any]]] = BASIC_LOOKUPS) -> None:
    """Fill every lookup table of a payroll database."""
    _insert_tables(url, {table: list(rows) for table, rows in lookups.items()})


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def secrets_in(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets `text` holds, sorted: a leak is a secret no digit touches.

    Prefect's own numbers are not leaks: a six-digit bank account found inside a
    timestamp's microseconds (`18:29:40.858877`), a duration's decimals or a run
    id's hex failed the scan about once in a few hundred runs. So run ids are
    taken out first, and a secret right after a decimal point does not count.
    A secret beside letters (`TFN123456789`) or punctuation still does.
    """
    text = _UUID.sub("<id>", text)
    return sorted(
        secret
        for secret in set(secrets)
        if re.search(rf"(?<![0-9.]){re.escape(secret)}(?![0-9])", text)
    )


_MARKUP_TOKENS = {"link_open", "html_inline", "image"}
"""markdown-it's tokens for a link (an autolink too), raw HTML and an image."""


def markdown_shown(markdown: str) -> list[str]:
    """What a markdown document shows, parsed as CommonMark with tables (markdown-it, the
    parser Rich uses; the Prefect UI's reads the same syntax): one string per paragraph,
    heading and list item, a table row's cells joined by " | ". Markup a value would turn
    into (a link, raw HTML, an image) raises, so a test sees it.
    """
    from rich.markdown import Markdown

    shown: list[str] = []
    cells: list[str] | None = None
    for token in Markdown(markdown).parsed:
        if token.type == "tr_open":
            cells = []
        elif token.type == "tr_close" and cells is not None:
            shown.append(" | ".join(cells))
            cells = None
        elif token.type == "inline":
            found = [c.type for c in token.children or [] if c.type in _MARKUP_TOKENS]
            assert not found, (found, token.content)
            text = "".join(
                c.content for c in token.children or [] if c.type in ("text", "code_inline")
            )
            if cells is not None:
                cells.append(text)
            else:
                shown.append(text)
        elif token.type == "html_block":
            raise AssertionError(f"raw HTML shown as HTML: {token.content!r}")
    return shown


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 60,
    what: str = "",
    log: Callable[[], str] | None = None,
    every: float = 0.05,
) -> T:
    """Poll every `every` s until the condition gives a value; fail saying what never
    happened, and `log()` when given (what the processes involved printed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    shown = "" if log is None else f"\n{log()}"
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.{shown}")
