"""Bulk writes store exactly what SQLAlchemy's own statements would, on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa

from ess.database import ess_engine
from ess.schema import employee, leave_balance
from ess.store.bulk import STAGE_UPDATES_FROM, BulkWriter, bind_constants, bulk_insert, bulk_update

BEFORE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AFTER = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
UPDATED = ("surname", "yearly_salary", "termination_date", "manager_code", "synced_at")


def _employees(conn, count):
    rows = [
        (f"E{n}", f"E{n}", n, "First", "Surname", Decimal("1000.00"), BEFORE, BEFORE)
        for n in range(count)
    ]
    columns = [
        "code_key",
        "employee_code",
        "payroll_employee_id",
        "first_name",
        "surname",
        "yearly_salary",
        "first_imported_at",
        "synced_at",
    ]
    fixed = bind_constants(conn, employee, {"payroll_database": "acme"})
    rows = [(*r, *fixed.values()) for r in rows]
    bulk_insert(conn, employee, [*columns, *fixed], rows, converted=tuple(fixed))
    return dict(conn.execute(sa.select(employee.c.code_key, employee.c.id)).tuples().all())


def _values(conn):
    columns = [employee.c[c] for c in ("code_key", "first_name", *UPDATED)]
    return {r[0]: r[1:] for r in conn.execute(sa.select(*columns)).tuples()}


@pytest.mark.parametrize("count", [3, STAGE_UPDATES_FROM + 7], ids=["executemany", "staged"])
def test_bulk_update_sets_only_the_given_columns_of_the_keyed_rows(ess, count):
    with ess_engine().begin() as conn:
        ids = _employees(conn, count + 2)
        updates = [
            (
                ids[f"E{n}"],
                f"New {n}",
                Decimal(f"{n}.25"),
                date(2026, 3, n % 28 + 1),
                None if n % 2 else "E0",
                AFTER,
            )
            for n in range(count)
        ]
        bulk_update(conn, employee, "id", UPDATED, updates)
        stored = _values(conn)
        temporary = sa.inspect(conn).get_temp_table_names() if conn.dialect.name == "sqlite" else []
    for n in range(count):
        surname, salary, ended, manager, synced = stored[f"E{n}"][1:]
        assert (surname, salary, ended, manager) == (
            f"New {n}",
            Decimal(f"{n}.25"),
            date(2026, 3, n % 28 + 1),
            None if n % 2 else "E0",
        )
        assert synced == AFTER and stored[f"E{n}"][0] == "First"
    for n in (count, count + 1):  # not named: untouched
        assert stored[f"E{n}"] == ("First", "Surname", Decimal("1000.00"), None, None, BEFORE)
    assert temporary == []


def test_a_failed_staged_update_leaves_nothing_behind(ess):
    if not ess.startswith("postgresql"):
        pytest.skip("only PostgreSQL stages updates")
    with ess_engine().begin() as conn:
        ids = _employees(conn, STAGE_UPDATES_FROM)
    updates = [(i, "x" * 51, None, None, None, AFTER) for i in ids.values()]  # surname too long
    # COPY is the driver's own: its error is psycopg's, not wrapped by SQLAlchemy.
    with pytest.raises(psycopg.errors.StringDataRightTruncation), ess_engine().begin() as conn:
        bulk_update(conn, employee, "id", UPDATED, updates)
    with ess_engine().connect() as conn:
        assert {v[1] for v in _values(conn).values()} == {"Surname"}
        assert not conn.execute(
            sa.text("SELECT 1 FROM pg_class WHERE relname LIKE 'ess_staged_%'")
        ).first()


def test_a_database_without_a_bulk_path_stores_converted_constants_once(ess):
    # SQL Server (and any other engine) takes rows through SQLAlchemy's INSERT. Columns the
    # caller converted already (bind_constants) must not be converted again: a UTC time
    # converted twice would be refused as naive. Run that path here on a real database.
    with ess_engine().begin() as conn:
        fixed = bind_constants(
            conn,
            employee,
            {"payroll_database": "acme", "first_imported_at": BEFORE, "synced_at": AFTER},
        )
        columns = ["code_key", "employee_code", "payroll_employee_id", *fixed]
        with BulkWriter(conn, employee, columns, converted=tuple(fixed)) as writer:
            writer._dialect = "mssql"  # the path every other engine takes
            writer.write([("E1", "E1", 1, *fixed.values())])
        stored = conn.execute(
            sa.select(
                employee.c.payroll_database, employee.c.first_imported_at, employee.c.synced_at
            )
        ).one()
    assert tuple(stored) == ("acme", BEFORE, AFTER)


def test_a_binary_copy_stores_what_a_text_copy_stores(ess):
    # The leave step copies in PostgreSQL's binary format (its values are typed exactly:
    # ints, codes, Decimals, dates, a naive UTC time); other engines ignore the flag.
    balances = [
        (1, "AL", Decimal("-4.2500"), date(2025, 6, 26)),
        (2, "SL", Decimal("99999999.9999"), date(1999, 12, 31)),
        (3, "LSL", Decimal("0.0001"), date(2030, 1, 1)),
    ]
    with ess_engine().begin() as conn:
        for database, binary in (("text", False), ("binary", True)):
            fixed = bind_constants(
                conn, leave_balance, {"payroll_database": database, "synced_at": AFTER}
            )
            columns = ["payroll_employee_id", "leave_type_code", "balance", "accrued_to", *fixed]
            with BulkWriter(
                conn, leave_balance, columns, converted=tuple(fixed), binary=binary
            ) as writer:
                writer.write([(*b, *fixed.values()) for b in balances])
        stored = {}
        for database in ("text", "binary"):
            query = sa.select(*(leave_balance.c[c] for c in columns)).where(
                leave_balance.c.payroll_database == database
            )
            stored[database] = sorted(conn.execute(query).tuples().all())
    assert [r[:4] for r in stored["binary"]] == balances
    assert [r[4:] for r in stored["binary"]] == [("binary", AFTER)] * 3
    assert [r[:4] + r[5:] for r in stored["binary"]] == [r[:4] + r[5:] for r in stored["text"]]
