"""The ESS database's tables. Alembic migrations in ess/migrations create and upgrade them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import DDL
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import PopulateDict

from core.lookups import ALL_SPECS, LookupColumn, LookupSpec

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)


class _PartialIndex(Index):
    """An index of the rows `where` holds, on every ESS engine (SQLite, PostgreSQL, SQL
    Server: each spells it `<engine>_where`).

    Given as `sqlite_where=`, `postgresql_where=` and `mssql_where=`, SQLAlchemy would import
    all three engines' dialects to check the names when this module is imported: about 45 ms
    of every `ess-sync status`, which needs one. Here each engine's option is filled in when
    that engine first asks for it (creating the index, comparing a migration).
    """

    ENGINES = ("sqlite", "postgresql", "mssql")

    def __init__(self, name: str, *columns: str, unique: bool, where: Any) -> None:
        super().__init__(name, *columns, unique=unique)
        self._where = where

    @property
    def dialect_options(self) -> Any:
        options = self.__dict__.get("_options")
        if options is None:
            options = self.__dict__["_options"] = PopulateDict(self._options_for)
        return options

    @property
    def dialect_kwargs(self) -> Any:
        # Every engine's, for whoever lists them (Alembic rendering a migration, a copy).
        for engine in self.ENGINES:
            self.dialect_options[engine]
        return super().dialect_kwargs

    def _options_for(self, engine: str) -> Any:
        options = self._kw_reg_for_dialect_cls(engine)
        if engine in self.ENGINES:
            options["where"] = self._where
        return options


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: stored naive in UTC (SQLite has no zones), returned zone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ESS stores only zone-aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal kept exact: NUMERIC where the database has it, text on SQLite (no decimals)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.digits = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.digits, self.scale, asdecimal=True))

    def bind_processor(self, dialect: Dialect) -> Any:
        # Only SQLite needs the decimal turned into text; elsewhere the driver takes it as it
        # is, and bulk writes (ess/store/bulk.py) skip a call per value.
        if dialect.name != "sqlite":
            return self.load_dialect_impl(dialect).bind_processor(dialect)
        return super().bind_processor(dialect)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return format(Decimal(value), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


DATABASE_NAME = String(63)

payroll_database = Table(
    "payroll_database",
    metadata,
    Column("name", DATABASE_NAME, primary_key=True),
    Column("connection_kind", String(8), nullable=False),  # url | odbc
    Column("connection_display", String(500), nullable=False),  # redacted, for people
    Column("block_name", String(100), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("last_sync_from_payroll", UTCDateTime),
    Column("last_leave_balance_sync", UTCDateTime),
    Column("employee_watermark", UTCDateTime),
    # Change ids within the overlap the last sync read (core/feed.py's ranges).
    Column("feed_read", Text),
    Column("job_timeout_seconds", Integer),
)

sync_job = Table(
    "sync_job",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payroll_database", DATABASE_NAME, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("flow_run_id", String(36)),
    Column("started_by", String(200)),
    Column("message", Text),
    Column("summary", Text),  # JSON: counts per step
    Index("ix_sync_job_database_started", "payroll_database", "started_at"),
    # The ground truth of "one job per database": a second running row cannot exist.
    _PartialIndex(
        "uq_sync_job_one_running",
        "payroll_database",
        unique=True,
        where=text("status = 'running'"),
    ),
)

# When a payroll database's jobs run on a Prefect server: ESS keeps them, so a redeploy
# (ours or `prefect deploy`) re-applies them instead of undoing a schedule set by
# `ess-sync schedule` (orchestration/deployments.py).
payroll_schedule = Table(
    "payroll_schedule",
    metadata,
    Column("payroll_database", DATABASE_NAME, primary_key=True),
    Column("kind", String(40), primary_key=True),  # a job kind: sync-from-payroll, ...
    Column("cron", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

web_api_log = Table(
    "web_api_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("logged_at", UTCDateTime, nullable=False),
    Column("payroll_database", DATABASE_NAME),
    Column("job_id", Integer),
    Column("level", String(10), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_web_api_log_database_id", "payroll_database", "id"),
    Index("ix_web_api_log_logged_at", "logged_at"),
    Index("ix_web_api_log_job_id", "job_id"),
)

ess_cache = Table(
    "ess_cache",
    metadata,
    Column("payroll_database", DATABASE_NAME, primary_key=True),
    Column("cache_key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("cached_at", UTCDateTime, nullable=False),
)


def lookup_table(spec: LookupSpec, into: MetaData) -> Table:
    """The ESS table of one lookup, generated from its spec.

    Beside the spec's columns every lookup table has ESS's own: an id, the payroll database
    the row came from, whether payroll still has it, when it was last synced, and one row per
    key per payroll database.
    """
    return Table(
        spec.ess_table,
        into,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("payroll_database", DATABASE_NAME, nullable=False),
        *(Column(c.name, _column_type(c), nullable=c.nullable) for c in spec.fields),
        Column("in_payroll", Boolean, nullable=False, server_default=text("true")),
        Column("synced_at", UTCDateTime, nullable=False),
        UniqueConstraint("payroll_database", *spec.key),
    )


def _column_type(column: LookupColumn) -> Any:
    if column.kind == "text" and column.width:
        return String(column.width)
    if column.kind == "smallint":
        return SmallInteger
    if column.kind == "integer":
        return Integer
    if column.kind == "boolean":
        return Boolean
    if column.kind == "decimal" and column.width and column.scale is not None:
        return ExactDecimal(column.width, column.scale)
    raise ValueError(f"Column {column.name!r}: no ESS type for {column}.")


LOOKUP_TABLES: dict[str, Table] = {s.ess_table: lookup_table(s, metadata) for s in ALL_SPECS}
"""Every lookup's ESS table, by name."""


def table_of(spec: LookupSpec) -> Table:
    """The ESS table a spec's rows go to; a spec ESS does not declare gets one generated apart."""
    table = LOOKUP_TABLES.get(spec.ess_table)
    return _undeclared_table(spec) if table is None else table


@cache
def _undeclared_table(spec: LookupSpec) -> Table:
    # A spec outside ALL_SPECS (a test's throwaway lookup): its table lives in a MetaData of
    # its own, so ESS's schema, and the migrations compared with it, stay as declared.
    return lookup_table(spec, MetaData(naming_convention=NAMING_CONVENTION))


def render_migration_type(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Alembic's render_item: ESS's own types written as the plain types they store.

    A generated migration must not import ess.schema (the schema moves on; a migration must
    not), so `alembic revision --autogenerate` writes these as the earlier migrations do.
    """
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if kind == "type" and isinstance(obj, ExactDecimal):
        numeric = f"sa.Numeric(precision={obj.digits}, scale={obj.scale})"
        return f'{numeric}.with_variant(sa.String(40), "sqlite")'
    return False


def _string(name: str, length: int) -> Column[Any]:
    return Column(name, String(length))


employee = Table(
    "employee",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payroll_database", DATABASE_NAME, nullable=False),
    Column("code_key", String(15), nullable=False),  # trimmed, upper-case: how codes match
    Column("payroll_employee_id", Integer, nullable=False),
    # Payroll-owned: every sync updates them.
    Column("employee_code", String(15), nullable=False),
    _string("first_name", 50),
    _string("middle_name", 50),
    _string("surname", 50),
    _string("gender_code", 1),
    Column("date_of_birth", Date),
    _string("work_email", 254),
    Column("date_hired", Date),
    Column("termination_date", Date),
    _string("employment_type_code", 1),
    _string("classification_code", 20),
    _string("cost_account_code", 20),
    _string("location_code", 10),
    _string("pay_point_code", 10),
    _string("pay_frequency_code", 1),
    _string("fund_code", 10),
    _string("super_member_number", 20),
    Column("yearly_salary", ExactDecimal(12, 2)),
    Column("normal_rate", ExactDecimal(12, 4)),
    Column("tax_free_threshold", SmallInteger),
    _string("manager_code", 15),
    _string("tax_file_number_masked", 12),
    # Taken on the first import, then owned by ESS (the employee edits them).
    _string("title", 10),
    _string("preferred_name", 50),
    _string("marital_status", 1),
    _string("personal_email", 254),
    _string("mobile", 20),
    _string("phone", 20),
    _string("address_line1", 100),
    _string("address_line2", 100),
    _string("suburb", 60),
    _string("state_code", 3),
    _string("postcode", 10),
    _string("country_code", 3),
    _string("bank_bsb", 6),
    _string("bank_account_masked", 12),
    # ESS's own. (An employee's manager is found by manager_code when ESS reads them.)
    Column("in_payroll", Boolean, nullable=False, server_default=text("true")),
    Column("first_imported_at", UTCDateTime, nullable=False),
    Column("synced_at", UTCDateTime, nullable=False),
    UniqueConstraint("payroll_database", "code_key"),
    Index("ix_employee_database_payroll_id", "payroll_database", "payroll_employee_id"),
)

EMPLOYEE_FILLFACTOR = 50
"""Percent of each PostgreSQL page of employee that rows fill (migration 0010): the rest is
room for a sync's UPDATE to write the row's new version in the same page, touching no index
(a pay review changing everyone: 1.7 s of UPDATE at 200,000 employees, not 5.6 s)."""

# The migrations set it on ESS's databases; this sets it where the table is made from this
# module (the benchmark's raw copy, so the limit it measures writes the same pages).
event.listen(
    employee,
    "after_create",
    DDL(f"ALTER TABLE employee SET (fillfactor = {EMPLOYEE_FILLFACTOR})").execute_if(
        dialect="postgresql"
    ),
)


def manages(manager: Any, of: Any) -> Any:
    """SQL: `manager` is the manager of `of` (both employee or an alias of it).

    An employee's manager is the in-payroll employee of the same payroll database whose code
    (code_key) is the employee's manager_code; ESS keeps no id for it.
    """
    return and_(
        manager.c.payroll_database == of.c.payroll_database,
        manager.c.code_key == of.c.manager_code,
        manager.c.in_payroll,
    )


employee_issue = Table(
    "employee_issue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payroll_database", DATABASE_NAME, nullable=False),
    Column("employee_code", String(100), nullable=False),
    Column("payroll_employee_id", Integer),
    Column("field", String(40), nullable=False),
    Column("value", String(100)),  # never a secret: TFNs and accounts are not checked here
    Column("reason", Text, nullable=False),
    Column("rejected", Boolean, nullable=False),
    Column("job_id", Integer),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Index("ix_employee_issue_database_employee", "payroll_database", "payroll_employee_id"),
)

# Keyed by what identifies a balance, and by nothing else: a surrogate id's own index made a
# first import of 8 million balances write a second index entry for each (migration 0011).
leave_balance = Table(
    "leave_balance",
    metadata,
    Column("payroll_database", DATABASE_NAME, primary_key=True),
    Column("payroll_employee_id", Integer, primary_key=True, autoincrement=False),
    Column("leave_type_code", String(10), primary_key=True),
    Column("balance", ExactDecimal(12, 4), nullable=False),  # in the leave type's unit
    Column("accrued_to", Date, nullable=False),  # "balance of last pay"
    Column("synced_at", UTCDateTime, nullable=False),
)

# What the last leave sync read of each payroll employee's balances (core.balance_digests):
# payroll's digest of each, so a re-sync reads again only employees whose rows changed. One
# row a database, the arrays' little-endian bytes: employee ids (int32), balances kept
# (int32; -1: read again every time) and digests (int64).
leave_balance_digest = Table(
    "leave_balance_digest",
    metadata,
    Column("payroll_database", DATABASE_NAME, primary_key=True),
    Column("employees", Integer, nullable=False),
    Column("ids", LargeBinary, nullable=False),
    Column("kept", LargeBinary, nullable=False),
    Column("digests", LargeBinary, nullable=False),
)

# Each reconciliation of a payroll database with ESS (`ess-sync reconcile`): when, what it
# found, and per table its counts (JSON); `ess-sync run --repair` reads its employees.
reconciliation = Table(
    "reconciliation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payroll_database", DATABASE_NAME, nullable=False),
    Column("job_id", Integer),
    Column("reconciled_at", UTCDateTime, nullable=False),
    Column("differences", Integer, nullable=False),
    Column("employees", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: per table counts, fields, examples
    Index("ix_reconciliation_database_id", "payroll_database", "id"),
)

# The employees a reconciliation found different (a field, or on one side only).
reconciliation_employee = Table(
    "reconciliation_employee",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reconciliation_id", Integer, nullable=False),
    Column("payroll_database", DATABASE_NAME, nullable=False),
    Column("payroll_employee_id", Integer, nullable=False),
    Index("ix_reconciliation_employee_reconciliation", "reconciliation_id"),
)
