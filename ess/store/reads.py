"""What support staff look up about employees: held-back issues and one employee's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.employees import ESS_OWNED, PAYROLL_OWNED, code_key
from ess.database import ess_engine
from ess.schema import employee, employee_issue, manages


@dataclass(frozen=True)
class HeldIssue:
    """A problem ESS holds for a payroll employee until a later sync imports the row cleanly."""

    employee_code: str
    payroll_employee_id: int | None
    field: str
    value: str | None
    reason: str
    outcome: str  # "rejected" (the employee is held back) or "warning" (the field is)
    first_seen_at: datetime
    last_seen_at: datetime


def list_issues(database: str) -> list[HeldIssue]:
    """Every held-back employee and field of one payroll database, rejections first."""
    query = (
        select(employee_issue)
        .where(employee_issue.c.payroll_database == database)
        .order_by(employee_issue.c.rejected.desc(), employee_issue.c.employee_code)
    )
    with ess_engine().connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        HeldIssue(
            employee_code=r["employee_code"],
            payroll_employee_id=r["payroll_employee_id"],
            field=r["field"],
            value=r["value"],
            reason=r["reason"],
            outcome="rejected" if r["rejected"] else "warning",
            first_seen_at=r["first_seen_at"],
            last_seen_at=r["last_seen_at"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class FieldValue:
    """One field of an ESS employee and who owns it."""

    field: str
    value: Any
    owner: str  # "payroll" (every sync updates it) or "ESS" (taken once, edited in ESS)


def employee_record(database: str, code: str) -> tuple[list[FieldValue], dict[str, Any]] | None:
    """What ESS holds for one employee (secrets only masked), or None."""
    manager = employee.alias("manager")
    query = (
        select(employee, manager.c.employee_code.label("manager_ess_code"))
        .outerjoin(manager, manages(manager, employee))
        .where(employee.c.payroll_database == database, employee.c.code_key == code_key(code))
    )
    with ess_engine().connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    fields = [FieldValue(c, row[c], "payroll") for c in PAYROLL_OWNED]
    fields += [FieldValue(c, row[c], "ESS") for c in ESS_OWNED]
    about = {
        "payroll_database": database,
        "payroll_employee_id": row["payroll_employee_id"],
        "in_payroll": bool(row["in_payroll"]),
        "manager": row["manager_ess_code"],
        "first_imported_at": row["first_imported_at"],
        "synced_at": row["synced_at"],
    }
    return fields, about
