from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ess.database import current_revision, ess_engine, head_revision, upgrade
from ess.schema import employee, metadata

# The migrations themselves are what is tested: each test's ESS starts empty.
pytestmark = pytest.mark.empty_ess


def test_the_migrations_create_exactly_the_schema_the_code_declares(ess):
    engine = ess_engine()
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_an_upgraded_database_is_left_alone(ess):
    engine = ess_engine()
    assert upgrade(engine) is False


def test_an_ess_on_sql_server_sends_many_rows_as_one_array():
    from ess.database import create_ess_engine

    engine = create_ess_engine("mssql+pyodbc://ess@ess_dsn")  # no connection is made
    assert engine.dialect.fast_executemany
    assert not getattr(create_ess_engine("sqlite://").dialect, "fast_executemany", False)


def test_only_a_running_job_is_unique_per_database_on_sql_server_too():
    import importlib
    import io

    from alembic.operations import Operations
    from sqlalchemy.dialects import mssql
    from sqlalchemy.schema import CreateIndex

    from ess.schema import sync_job

    index = next(i for i in sync_job.indexes if i.name == "uq_sync_job_one_running")
    ddl = str(CreateIndex(index).compile(dialect=mssql.dialect()))
    assert ddl.rstrip().endswith("WHERE status = 'running'")

    # Migration 0005 as SQL Server would run it (offline: SQL written, nothing executed).
    output = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="mssql", opts={"as_sql": True, "output_buffer": output}
    )
    migration = importlib.import_module(
        "ess.migrations.versions.0005_one_running_job_on_sql_server"
    )
    with Operations.context(context):
        migration.upgrade()
    sql = output.getvalue()
    assert "DROP INDEX uq_sync_job_one_running ON sync_job" in sql
    assert "CREATE UNIQUE INDEX uq_sync_job_one_running ON sync_job (payroll_database) " in sql
    assert "WHERE status = 'running'" in sql


def test_the_newest_revision_read_from_the_files_is_alembics():
    from alembic.script import ScriptDirectory

    from ess.database import _head_from_files, alembic_config

    assert _head_from_files() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _head_from_files() is not None


def _migrate(engine, step, revision):
    """alembic's `step` (command.upgrade or command.downgrade) to `revision`, in one transaction."""
    from ess.database import alembic_config

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        step(config, revision)


def test_an_ess_behind_the_newest_revision_is_upgraded_and_one_at_it_is_left_alone(tmp_path):
    from alembic import command

    from ess.database import create_ess_engine

    engine = create_ess_engine(f"sqlite:///{tmp_path / 'ess.db'}")
    _migrate(engine, command.upgrade, "0005")
    assert current_revision(engine) == "0005"
    assert upgrade(engine) is True
    assert current_revision(engine) == head_revision()
    assert upgrade(engine) is False
    engine.dispose()


@pytest.mark.postgres
def test_a_sync_updating_every_employee_on_postgresql_rewrites_each_row_in_its_own_page(
    postgres_database,
):
    # Migrated (as ESS is) and made from the module (as the benchmark's raw copy is), the
    # table leaves room in its pages: an UPDATE of columns no index holds stays in the page.
    from ess.database import create_ess_engine
    from ess.schema import EMPLOYEE_FILLFACTOR
    from ess.store.bulk import STAGE_UPDATES_FROM, bulk_update
    from tests.conftest import postgres_url

    engine = create_ess_engine(postgres_url(postgres_database))
    upgrade(engine)
    count = 4 * STAGE_UPDATES_FROM  # pages' worth, updated by one UPDATE ... FROM
    now = datetime.now(UTC)
    for made_by in ("migration", "metadata"):
        if made_by == "metadata":
            employee.drop(engine)
            metadata.create_all(engine, tables=[employee])
        with engine.begin() as conn:
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE oid = 'employee'::regclass"
            ).scalar_one()
            assert options == [f"fillfactor={EMPLOYEE_FILLFACTOR}"], made_by
            conn.execute(employee.insert(), [_employee(i, now) for i in range(count)])
        pages = _pages(engine)
        assert len(set(pages.values())) > 4
        # A pay review: everyone's salary and sync time, a surname, as the sync writes them.
        columns = ("surname", "yearly_salary", "normal_rate", "synced_at")
        rows = [(i, "Tran", Decimal("88400.00"), Decimal("42.5000"), now) for i in pages]
        with engine.begin() as conn:
            bulk_update(conn, employee, "id", columns, rows)
        assert _pages(engine) == pages, made_by  # each row's new version in its old page
        with engine.connect() as conn:
            salaries = conn.execute(sa.select(employee.c.yearly_salary).distinct()).all()
        assert salaries == [(Decimal("88400.00"),)]
    engine.dispose()


def _employee(i, now):
    """A payroll employee as the first import stores one (every usual column filled)."""
    return {
        "payroll_database": "acme_payroll",
        "code_key": f"E{i:06d}",
        "payroll_employee_id": i,
        "employee_code": f"E{i:06d}",
        "first_name": "Margaret",
        "surname": "Nguy",
        "gender_code": "F",
        "work_email": f"margaret.nguy{i}@acme.example",
        "employment_type_code": "F",
        "classification_code": "CLERK2",
        "cost_account_code": "4100-200",
        "location_code": "MEL",
        "pay_frequency_code": "F",
        "yearly_salary": Decimal("85000.00"),
        "normal_rate": Decimal("40.8654"),
        "address_line1": f"{i} Collins Street",
        "suburb": "Melbourne",
        "postcode": "3000",
        "first_imported_at": now,
        "synced_at": now,
    }


def _pages(engine):
    """Each employee's page in the table, by ESS id (the block of its ctid)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(employee.c.id, sa.text("(ctid::text::point)[0]::int")).select_from(employee)
        )
        return dict(rows.all())


def test_leave_balances_upgraded_to_their_own_key_keep_every_balance(ess):
    # Migration 0011 on a database holding balances: every one kept, the key is the primary
    # key and still refuses a second balance of a type; downgraded, each has an id again.
    from alembic import command

    from ess.database import create_ess_engine

    engine = create_ess_engine(ess)
    assert current_revision(engine) is None  # the fixture's ESS is empty until first used
    rows = [
        {
            "payroll_database": db,
            "payroll_employee_id": e,
            "leave_type_code": code,
            "balance": f"{e}.2500",
            "accrued_to": "2025-06-30",
            "synced_at": "2025-07-01 00:00:00",
        }
        for db in ("acme_payroll", "beta_payroll")
        for e in (1, 2)
        for code in ("AL", "SL")
    ]
    _migrate(engine, command.upgrade, "0010")
    insert = sa.text(
        "INSERT INTO leave_balance (payroll_database, payroll_employee_id, leave_type_code,"
        " balance, accrued_to, synced_at) VALUES (:payroll_database, :payroll_employee_id,"
        " :leave_type_code, :balance, :accrued_to, :synced_at)"
    )
    with engine.begin() as conn:
        conn.execute(insert, rows)
    key = ("payroll_database", "payroll_employee_id", "leave_type_code")
    held = "SELECT payroll_database, payroll_employee_id, leave_type_code FROM leave_balance"

    _migrate(engine, command.upgrade, "0011")
    inspector = sa.inspect(engine)
    assert "id" not in [c["name"] for c in inspector.get_columns("leave_balance")]
    assert tuple(inspector.get_pk_constraint("leave_balance")["constrained_columns"]) == key
    assert inspector.get_unique_constraints("leave_balance") == []
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.text(held)).all()) == sorted(
            tuple(r[c] for c in key) for r in rows
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(insert, {**rows[0], "balance": "0"})  # a second AL of acme's employee 1

    _migrate(engine, command.downgrade, "0010")
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM leave_balance ORDER BY id")).scalars().all()
    assert len(ids) == len(rows) and len(set(ids)) == len(rows) and None not in ids
    assert sa.inspect(engine).get_pk_constraint("leave_balance")["constrained_columns"] == ["id"]
    _migrate(engine, command.upgrade, "head")
    assert current_revision(engine) == head_revision()
    engine.dispose()
