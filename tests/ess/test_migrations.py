from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ess.database import current_revision, ess_engine, head_revision, upgrade
from ess.schema import metadata


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


def test_an_ess_behind_the_newest_revision_is_upgraded_and_one_at_it_is_left_alone(tmp_path):
    from alembic import command

    from ess.database import alembic_config, create_ess_engine

    engine = create_ess_engine(f"sqlite:///{tmp_path / 'ess.db'}")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    assert current_revision(engine) == "0005"
    assert upgrade(engine) is True
    assert current_revision(engine) == head_revision()
    assert upgrade(engine) is False
    engine.dispose()
