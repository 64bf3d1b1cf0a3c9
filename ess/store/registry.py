"""Payroll databases registered by name: the secret in a Prefect Block, the rest in ESS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr
from sqlalchemy import delete, insert, select, update

from core.redact import redact_connection
from ess.database import ess_engine
from ess.schema import payroll_database

if TYPE_CHECKING:
    from blocks.payroll_database import PayrollDatabase

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
    from blocks.payroll_database import PayrollDatabase, block_name_for

    check_name(name)
    if (url is None) == (odbc is None):
        raise ValueError("Give exactly one of a SQLAlchemy URL (--url) or an ODBC string (--odbc).")
    kind: Literal["url", "odbc"] = "url" if url is not None else "odbc"
    secret = url if url is not None else odbc
    assert secret is not None
    display = redact_connection(kind, secret)
    block = PayrollDatabase(
        database_name=name,
        connection_kind=kind,
        connection_string=SecretStr(secret),
        query_timeout_seconds=query_timeout_seconds,
    )
    block.save(block_name_for(name), overwrite=True)
    now = datetime.now(UTC)
    with ess_engine().begin() as conn:
        exists = conn.execute(
            select(payroll_database.c.name).where(payroll_database.c.name == name)
        ).first()
        values = {
            "connection_kind": kind,
            "connection_display": display,
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


def remove_database(name: str) -> None:
    """Forget a payroll database's registration (what was synced from it stays in ESS)."""
    get_database(name)
    with ess_engine().begin() as conn:
        conn.execute(delete(payroll_database).where(payroll_database.c.name == name))


def list_databases() -> list[RegisteredDatabase]:
    """Every registered payroll database, by name."""
    with ess_engine().connect() as conn:
        rows = conn.execute(select(payroll_database).order_by(payroll_database.c.name)).all()
    return [_registered(r._asdict()) for r in rows]


def get_database(name: str) -> RegisteredDatabase:
    """One registered payroll database; UnknownDatabase if there is none by that name."""
    with ess_engine().connect() as conn:
        row = conn.execute(select(payroll_database).where(payroll_database.c.name == name)).first()
    if row is None:
        known = ", ".join(d.name for d in list_databases()) or "none yet"
        raise UnknownDatabase(
            f"No payroll database is registered as {name!r} (registered: {known}). "
            "Register it with `ess-sync databases add NAME --odbc ...` or `--url ...`."
        )
    return _registered(row._asdict())


def _registered(row: dict[str, object]) -> RegisteredDatabase:
    row = dict(row)
    row.pop("block_name", None)
    # Redacted again as read: a display an older version stored with a secret never shows.
    kind, shown = str(row["connection_kind"]), str(row["connection_display"])
    row["connection_display"] = redact_connection(kind, shown)
    return RegisteredDatabase(**row)  # type: ignore[arg-type]


# Blocks loaded by the flow run in progress: its steps share one load (a load is an API call).
_loaded: dict[tuple[str, str], PayrollDatabase] = {}


def load_connection(name: str) -> PayrollDatabase:
    """The block holding the database's connection string (load it inside the task using it).

    Loaded once per flow run: each step of a run uses the connection the run started with.
    """
    from prefect.context import FlowRunContext

    from blocks.payroll_database import PayrollDatabase, block_name_for

    get_database(name)
    context = FlowRunContext.get()
    run = str(context.flow_run.id) if context and context.flow_run else None
    if run is not None and (name, run) in _loaded:
        return _loaded[(name, run)]
    try:
        block: PayrollDatabase = PayrollDatabase.load(block_name_for(name))  # type: ignore[assignment]
    except ValueError:
        raise UnknownDatabase(
            f"Payroll database {name!r} is registered in ESS but its connection block "
            f"{block_name_for(name)!r} is missing from Prefect: register it again with "
            "`ess-sync databases add`."
        ) from None
    if run is not None:
        for key in [k for k in _loaded if k[1] != run]:
            del _loaded[key]
        _loaded[(name, run)] = block
    return block


def job_limit_seconds(name: str) -> int:
    """The time limit of a job on this database: its own, or the default setting."""
    from ess.settings import settings

    return get_database(name).job_timeout_seconds or settings().job_timeout_seconds


def ensure_registered(name: str) -> RegisteredDatabase:
    """The database's ESS registration, made from its Prefect block if it was created in the UI."""
    from blocks.payroll_database import PayrollDatabase, block_name_for

    try:
        return get_database(name)
    except UnknownDatabase:
        try:
            block: PayrollDatabase = PayrollDatabase.load(block_name_for(name))  # type: ignore[assignment]
        except ValueError:
            raise UnknownDatabase(
                f"No payroll database is registered as {name!r}: register it with "
                f"`ess-sync databases add`, or create a Payroll Database block named "
                f"{block_name_for(name)!r} in the Prefect UI."
            ) from None
    secret = block.connection_string.get_secret_value()
    kind = block.connection_kind
    display = redact_connection(kind, secret)
    with ess_engine().begin() as conn:
        conn.execute(
            insert(payroll_database).values(
                name=name,
                connection_kind=kind,
                connection_display=display,
                block_name=block_name_for(name),
                registered_at=datetime.now(UTC),
            )
        )
    return get_database(name)
