"""Counting a payroll's employees, as far as a sync of changes needs, always exactly."""

from datetime import UTC, datetime

import sqlalchemy as sa

from ess.database import ess_engine
from ess.schema import employee
from ess.store.employees import count_employees

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _add(conn, database, count):
    conn.execute(
        sa.insert(employee),
        [
            {
                "payroll_database": database,
                "code_key": f"E{n}",
                "employee_code": f"E{n}",
                "payroll_employee_id": n,
                "first_imported_at": NOW,
                "synced_at": NOW,
            }
            for n in range(count)
        ],
    )


def test_a_count_stops_where_asked_and_is_exact_past_the_tables_size(ess):
    with ess_engine().begin() as conn:
        _add(conn, "acme", 30)
        _add(conn, "bravo", 5)
    with ess_engine().connect() as conn:
        if conn.dialect.name == "postgresql":
            # The planner's estimate (35 rows) decides only how the count runs.
            conn.exec_driver_sql("ANALYZE employee")
        assert count_employees(conn, "acme") == 30
        assert count_employees(conn, "acme", upto=10) == 10
        assert count_employees(conn, "acme", upto=31) == 30
        assert count_employees(conn, "acme", upto=1_000) == 30
        assert count_employees(conn, "bravo", upto=1_000) == 5
        assert count_employees(conn, "nobody", upto=1_000) == 0
