"""A realistic, seeded payroll database that follows the vendored schema.sql."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, text

from generator import reference_data as ref
from generator.loader import BulkLoader
from generator.quirks import NOT_TERMINATED
from generator.timeline import MAX_EMPLOYEE_ID
from generator.workforce import (
    EMPLOYEE_CHANGED_COLUMNS,
    EMPLOYEE_COLUMNS,
    LEAVE_BALANCE_COLUMNS,
    Workforce,
)

SCHEMA_PATH = Path(__file__).with_name("schema.sql")
CHUNK_SIZE = 10_000
_CHANGEABLE_FIELDS = {
    "surname": 20,
    "yearly_salary": 40,
    "cost_account_code": 25,
    "termination_date": 15,
}
_SURNAMES_AFTER_MARRIAGE = ("Nguyen", "Smith", "Papadopoulos", "O'Brien", "Singh", "Walker-Smith")


@dataclass(frozen=True)
class PayrollSummary:
    """What build_payroll wrote."""

    employees: int
    leave_balances: int
    changes: int
    tables: dict[str, int]  # rows per table


def _schema_statements() -> dict[str, str]:
    """schema.sql's CREATE TABLE statements by table name, in file order."""
    sql = re.sub(r"--[^\n]*", "", SCHEMA_PATH.read_text(encoding="utf-8"))
    statements = {}
    for statement in filter(None, (s.strip() for s in sql.split(";"))):
        match = re.match(r"CREATE TABLE (\w+)", statement)
        if match is None:
            raise ValueError(f"schema.sql holds more than CREATE TABLE: {statement[:40]!r}")
        statements[match.group(1)] = statement
    return statements


def create_payroll_schema(engine: sqlalchemy.Engine) -> None:
    """Create payroll's tables from the vendored schema.sql (SQLite or PostgreSQL)."""
    existing = set(sqlalchemy.inspect(engine).get_table_names())
    with engine.begin() as connection:
        for table, statement in _schema_statements().items():
            if table not in existing:
                connection.exec_driver_sql(statement)


def build_payroll(
    engine: sqlalchemy.Engine,
    employees: int = 3000,
    *,
    seed: int = 1,
    leave_types_per_employee: int = 4,
    quirks: bool = True,
) -> PayrollSummary:
    """Create the schema (if absent) and fill every table."""
    if not 0 <= employees <= MAX_EMPLOYEE_ID:
        raise ValueError(f"employees must be between 0 and {MAX_EMPLOYEE_ID}")
    if not 0 <= leave_types_per_employee <= len(ref.LEAVE_TYPES):
        raise ValueError(f"leave_types_per_employee must be between 0 and {len(ref.LEAVE_TYPES)}")
    create_payroll_schema(engine)
    tables = list(_schema_statements())
    with engine.connect() as connection:
        filled = [
            t for t in tables if connection.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first()
        ]
    if filled:
        # Refuse rather than mix two payrolls or wipe one someone meant to keep.
        raise ValueError(f"the payroll database already has rows in: {', '.join(filled)}")

    counts = dict.fromkeys(tables, 0)
    workforce = Workforce(
        random.Random(seed),
        employees,
        quirks=quirks,
        leave_types_per_employee=leave_types_per_employee,
    )
    with BulkLoader(engine) as loader:
        for table, rows in ref.LOOKUP_ROWS.items():
            loader.write(table, _column_names(engine, table), rows)
            counts[table] = len(rows)
        for chunk in workforce.chunks(CHUNK_SIZE):
            loader.write("employee", EMPLOYEE_COLUMNS, chunk.employees)
            loader.write("leave_balance", LEAVE_BALANCE_COLUMNS, chunk.leave_balances)
            loader.write("employee_changed", EMPLOYEE_CHANGED_COLUMNS, chunk.changes)
            counts["employee"] += len(chunk.employees)
            counts["leave_balance"] += len(chunk.leave_balances)
            counts["employee_changed"] += len(chunk.changes)
    return PayrollSummary(
        employees=counts["employee"],
        leave_balances=counts["leave_balance"],
        changes=counts["employee_changed"],
        tables=counts,
    )


def _column_names(engine: sqlalchemy.Engine, table: str) -> list[str]:
    return [c["name"] for c in sqlalchemy.inspect(engine).get_columns(table)]


def _naive_utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _next_ids(connection: sqlalchemy.Connection) -> tuple[int, int]:
    """The next free employee_id and change_id."""
    employee_id = connection.execute(text("SELECT max(employee_id) FROM employee")).scalar()
    change_id = connection.execute(text("SELECT max(change_id) FROM employee_changed")).scalar()
    return (employee_id or 0) + 1, (change_id or 0) + 1


def _record_changes(
    connection: sqlalchemy.Connection, employee_ids: list[int], changed_at: str
) -> None:
    """Append one feed row per employee, as payroll does on every save."""
    if not employee_ids:
        return
    _, change_id = _next_ids(connection)
    connection.execute(
        text(
            "INSERT INTO employee_changed (change_id, employee_id, changed_at) "
            "VALUES (:change_id, :employee_id, :changed_at)"
        ),
        [
            {"change_id": change_id + n, "employee_id": e, "changed_at": changed_at}
            for n, e in enumerate(employee_ids)
        ],
    )


def change_employees(
    engine: sqlalchemy.Engine, fraction: float, *, seed: int = 2, at: datetime | None = None
) -> list[int]:
    """Edit a payroll-owned field of `fraction` of employees as payroll officers would.

    Each changed employee gets `last_modified = at` (default now, naive UTC) and one
    employee_changed row; returns the employee_ids changed.
    """
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be between 0 and 1")
    rng = random.Random(seed)
    stamp = _naive_utc(at).isoformat(" ")
    with engine.begin() as connection:
        ids = list(
            connection.execute(text("SELECT employee_id FROM employee ORDER BY 1")).scalars()
        )
        count = round(fraction * len(ids)) if fraction < 1 else len(ids)
        chosen = sorted(rng.sample(ids, max(count, 1 if fraction and ids else 0)))
        current = text(
            "SELECT employee_id, surname, yearly_salary, normal_rate, cost_account_code,"
            " termination_date FROM employee WHERE employee_id IN :ids ORDER BY employee_id"
        ).bindparams(bindparam("ids", expanding=True))
        accounts = [a[0] for a in ref.COST_ACCOUNTS if a[2] == 1]
        fields, weights = list(_CHANGEABLE_FIELDS), list(_CHANGEABLE_FIELDS.values())
        for start in range(0, len(chosen), 500):
            updates: dict[str, list[dict[str, Any]]] = {}
            for row in connection.execute(current, {"ids": chosen[start : start + 500]}):
                (field,) = rng.choices(fields, weights)
                statement, params = _edit(row, field, rng, accounts, stamp)
                updates.setdefault(statement, []).append(params)
            for statement, many in updates.items():
                connection.execute(text(statement), many)
        _record_changes(connection, chosen, stamp)
    return chosen


def _edit(
    row: sqlalchemy.Row[Any], field: str, rng: random.Random, accounts: list[str], stamp: str
) -> tuple[str, dict[str, Any]]:
    """The UPDATE that changes `field` of one employee, with its parameters."""
    employee_id, surname, salary, rate, account, terminated = row
    params: dict[str, Any] = {"id": employee_id, "at": stamp}
    if field == "surname":
        params["value"] = rng.choice([s for s in _SURNAMES_AFTER_MARRIAGE if s != surname])
    elif field == "cost_account_code":
        params["value"] = rng.choice([a for a in accounts if a != (account or "").strip()])
    elif field == "termination_date":
        # Terminated employees are re-hired; everyone else leaves as of today.
        is_terminated = terminated is not None and str(terminated) != NOT_TERMINATED
        params["value"] = None if is_terminated else stamp[:10]
    else:
        raise_by = Decimal(100 + rng.randint(2, 6)) / 100
        params["rate"] = str((Decimal(str(rate)) * raise_by).quantize(Decimal("0.0001")))
        params["value"] = None
        if salary is not None:
            params["value"] = str((Decimal(str(salary)) * raise_by).quantize(Decimal("0.01")))
        return (
            "UPDATE employee SET yearly_salary = :value, normal_rate = :rate, "
            "last_modified = :at WHERE employee_id = :id",
            params,
        )
    return (
        f"UPDATE employee SET {field} = :value, last_modified = :at WHERE employee_id = :id",
        params,
    )


def add_hard_cases(engine: sqlalchemy.Engine) -> dict[str, list[str]]:
    """Insert employees that are data errors in payroll; returns {kind: [employee_codes]}.

    Kinds: duplicate_code (two employees, one code), unknown_location (location_code
    'ZZZ'), unknown_manager (manager_code naming no employee) and, on SQLite only,
    impossible_date (date_hired '2023-02-30', which PostgreSQL's DATE cannot hold).
    """
    sqlite = engine.dialect.name == "sqlite"
    stamp = _naive_utc(None).isoformat(" ")
    with engine.connect() as connection:
        first_id, _ = _next_ids(connection)
        boss = connection.execute(
            text("SELECT employee_code FROM employee ORDER BY employee_id LIMIT 1")
        ).scalar()
        missing_manager = _unused_code(connection, f"E{first_id + 900_000:06d}")
    kinds = ["duplicate_code", "duplicate_code", "unknown_location", "unknown_manager"]
    kinds += ["impossible_date"] if sqlite else []
    workforce = Workforce(
        random.Random(f"hard cases {first_id}"),
        len(kinds),
        quirks=False,
        leave_types_per_employee=2,
        first_id=first_id,
    )
    chunk = next(workforce.chunks(len(kinds)))
    column = {name: n for n, name in enumerate(EMPLOYEE_COLUMNS)}
    rows = [list(row) for row in chunk.employees]
    with engine.connect() as connection:
        _make_secrets_unique(connection, rows, workforce, column)
    for row in rows:
        row[column["manager_code"]] = boss
        row[column["last_modified"]] = stamp
    rows[1][column["employee_code"]] = rows[0][column["employee_code"]]
    rows[2][column["location_code"]] = "ZZZ"
    rows[3][column["manager_code"]] = missing_manager
    if sqlite:
        rows[4][column["date_hired"]] = "2023-02-30"
    with BulkLoader(engine) as loader:
        loader.write("employee", EMPLOYEE_COLUMNS, [tuple(row) for row in rows])
        loader.write("leave_balance", LEAVE_BALANCE_COLUMNS, chunk.leave_balances)
    with engine.begin() as connection:
        _record_changes(connection, [row[column["employee_id"]] for row in rows], stamp)
    cases: dict[str, list[str]] = {}
    for kind, row in zip(kinds, rows, strict=True):
        codes = cases.setdefault(kind, [])
        if row[column["employee_code"]] not in codes:
            codes.append(row[column["employee_code"]])
    return cases


def _unused_code(connection: sqlalchemy.Connection, code: str) -> str:
    query = text("SELECT 1 FROM employee WHERE employee_code = :code OR manager_code = :code")
    while connection.execute(query, {"code": code}).first():
        code += "X"
    return code


def _make_secrets_unique(
    connection: sqlalchemy.Connection,
    rows: list[list[Any]],
    workforce: Workforce,
    column: dict[str, int],
) -> None:
    """Redraw any TFN or bank account the new rows would share with an existing employee."""
    for name, sequence in (
        ("tax_file_number", workforce.tfns),
        ("bank_account_number", workforce.accounts),
    ):
        query = text(f"SELECT 1 FROM employee WHERE {name} = :value")
        for row in rows:
            while (
                row[column[name]] is not None
                and connection.execute(query, {"value": row[column[name]]}).first()
            ):
                row[column[name]] = sequence.draw()


def build_payroll_file(path: Path, employees: int = 3000) -> PayrollSummary:
    """Build a payroll in a new SQLite file at `path` (the demo's)."""
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    try:
        return build_payroll(engine, employees=employees)
    finally:
        engine.dispose()
