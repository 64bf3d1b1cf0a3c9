"""Payroll databases registered by name: the secret in a Prefect Block, the rest in ESS.

Loading a database's block to read it is payroll/connect.py's job, not the store's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from core.redact import redact_connection
from ess.database import ess_engine
from ess.plain import reading, utc, utc_or_none

# SQLAlchemy and the schema are imported by the functions that write: looking a database up
# reads in plain SQL (ess/plain.py), and `ess-sync log` looks one up before it reads.
_COLUMNS = (
    "name, connection_kind, connection_display, registered_at, last_sync_from_payroll,"
    " last_leave_balance_sync, employee_watermark, job_timeout_seconds"
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class UnknownDatabase(LookupError):
    """No payroll database is registered under that name."""


@dataclass(frozen=True)
class RegisteredDatabase:
    """A payroll database as ESS knows it (no secrets)."""

    name: str
    connection_kind: str
    connection_display: str
    registered_at: datetime
    last_sync_from_payroll: datetime | None
    last_leave_balance_sync: datetime | None
    employee_watermark: datetime | None
    job_timeout_seconds: int | None


def check_name(name: str) -> str:
    """The name, if it is a valid payroll database name; ValueError saying why not."""
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid payroll database name: use lower-case letters, digits "
            "and underscores, starting with a letter (e.g. acme_payroll), at most 63 characters."
        )
    return name


def register_database(
    name: str,
    *,
    url: str | None = None,
    odbc: str | None = None,
    query_timeout_seconds: int = 300,
    job_timeout_seconds: int | None = None,
) -> RegisteredDatabase:
    """Register (or re-register) a payroll database under a name."""
    # Here, not at the top: `ess-sync log` looks a database up and need not load pydantic.
    from pydantic import SecretStr

    from blocks.payroll_database import PayrollDatabase, block_name_for

    check_name(name)
    if (url is None) == (odbc is None):
        raise ValueError("Give exactly one of a SQLAlchemy URL (--url) or an ODBC string (--odbc).")
    kind: Literal["url", "odbc"] = "url" if url is not None else "odbc"
    secret = url if url is not None else odbc
    assert secret is not None
    block = PayrollDatabase(
        database_name=name,
        connection_kind=kind,
        connection_string=SecretStr(secret),
        query_timeout_seconds=query_timeout_seconds,
    )
    block.save(block_name_for(name), overwrite=True)
    return record_registration(name, kind, block.connection_display(), job_timeout_seconds)


def record_registration(
    name: str, connection_kind: str, connection_display: str, job_timeout_seconds: int | None = None
) -> RegisteredDatabase:
    """Write (or rewrite) ESS's row for a payroll database whose block is already saved."""
    from sqlalchemy import insert, select, update

    from blocks.payroll_database import block_name_for
    from ess.schema import payroll_database

    now = datetime.now(UTC)
    with ess_engine().begin() as conn:
        exists = conn.execute(
            select(payroll_database.c.name).where(payroll_database.c.name == name)
        ).first()
        values = {
            "connection_kind": connection_kind,
            "connection_display": connection_display,
            "block_name": block_name_for(name),
            "job_timeout_seconds": job_timeout_seconds,
        }
        if exists:
            conn.execute(
                update(payroll_database).where(payroll_database.c.name == name).values(values)
            )
        else:
            conn.execute(insert(payroll_database).values(name=name, registered_at=now, **values))
    return get_database(name)


def delete_connection(name: str) -> bool:
    """Delete a payroll database's Payroll Database block (its secret); False if there was none.

    The block lives on the Prefect server `register_database` saved it to: the configured
    one, or with none the temporary server, whose database is kept in PREFECT_HOME.
    """
    from blocks.payroll_database import delete_block

    return delete_block(name)


def remove_database(name: str) -> None:
    """Forget a payroll database's registration (what was synced from it stays in ESS)."""
    from sqlalchemy import delete

    from ess.schema import payroll_database

    get_database(name)
    with ess_engine().begin() as conn:
        conn.execute(delete(payroll_database).where(payroll_database.c.name == name))


def list_databases() -> list[RegisteredDatabase]:
    """Every registered payroll database, by name."""
    with reading() as db:
        rows = db.rows(f"SELECT {_COLUMNS} FROM payroll_database ORDER BY name")
    return [_registered(row) for row in rows]


def get_database(name: str) -> RegisteredDatabase:
    """One registered payroll database; UnknownDatabase if there is none by that name."""
    with reading() as db:
        rows = db.rows(f"SELECT {_COLUMNS} FROM payroll_database WHERE name = ?", [name])
    if not rows:
        known = ", ".join(d.name for d in list_databases()) or "none yet"
        raise UnknownDatabase(
            f"No payroll database is registered as {name!r} (registered: {known}). "
            "Register it with `ess-sync databases add NAME --odbc ...` or `--url ...`."
        )
    return _registered(rows[0])


def _registered(row: tuple[object, ...]) -> RegisteredDatabase:
    name, kind, shown, registered, synced, leave_synced, watermark, timeout = row
    return RegisteredDatabase(
        name=str(name),
        connection_kind=str(kind),
        # Redacted again as read: a display an older version stored with a secret never shows.
        connection_display=redact_connection(str(kind), str(shown)),
        registered_at=utc(registered),
        last_sync_from_payroll=utc_or_none(synced),
        last_leave_balance_sync=utc_or_none(leave_synced),
        employee_watermark=utc_or_none(watermark),
        job_timeout_seconds=None if timeout is None else int(timeout),  # type: ignore[call-overload]
    )


def job_limit_seconds(name: str) -> int:
    """The time limit of a job on this database: its own, or the default setting."""
    from ess.settings import settings

    return get_database(name).job_timeout_seconds or settings().job_timeout_seconds
