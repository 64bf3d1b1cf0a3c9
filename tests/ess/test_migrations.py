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
