"""The Payroll Database block reads its own database: read-only, the right driver chosen once."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from blocks.payroll_database import PayrollDatabase
from core.queries import select_all
from payroll.drivers import MssqlUrl, Odbc, PostgresUrl, SqlAlchemyUrl, SqliteUrl, driver_for
from payroll.source import PayrollReadError
from tests.support import fill_lookups

STATES = select_all("state", ("state_code",), ("state_code",))


def _block(url: str, kind: str = "url") -> PayrollDatabase:
    return PayrollDatabase(
        database_name="acme_payroll", connection_kind=kind, connection_string=url
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def payroll(request) -> str:
    return request.getfixturevalue(f"payroll_{request.param}")


def test_the_block_reads_its_payroll(payroll):
    fill_lookups(payroll)
    with _block(payroll).reader() as reader:
        assert reader.all(STATES) == [("NSW",), ("QLD",), ("VIC",)]
        assert list(reader.chunks(STATES, size=2)) == [[("NSW",), ("QLD",)], [("VIC",)]]


def test_a_write_through_the_block_is_refused_and_payroll_is_unchanged(payroll):
    fill_lookups(payroll)
    with (
        pytest.raises(PayrollReadError, match=r"payroll database acme_payroll: .*read"),
        _block(payroll).reader() as reader,
    ):
        reader.all("INSERT INTO state (state_code, description) VALUES ('ZZ', 'Nowhere')")
    engine = sa.create_engine(payroll)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM state")).scalar() == 3
    engine.dispose()


def test_a_failure_to_open_names_the_database_and_never_the_password():
    block = _block("postgresql+psycopg://ess:s3cret-pw@127.0.0.1:1/nowhere")
    with pytest.raises(PayrollReadError) as failed, block.reader():
        pass
    assert str(failed.value).startswith("payroll database acme_payroll: ")
    assert "s3cret-pw" not in str(failed.value)
    assert failed.value.transient


def test_an_in_memory_sqlite_payroll_is_refused_for_good():
    with pytest.raises(PayrollReadError) as failed, _block("sqlite://").reader():
        pass
    # The database named once.
    assert str(failed.value) == (
        "payroll database acme_payroll: SQLite needs a file, not an in-memory database"
    )
    assert not failed.value.transient


@pytest.mark.parametrize(
    ("kind", "connection", "driver"),
    [
        ("url", "sqlite:////srv/payroll.db", SqliteUrl),
        ("url", "postgresql+psycopg://ess@db/payroll", PostgresUrl),
        ("url", "mssql+pyodbc://ess:pw@dsn", MssqlUrl),
        ("url", "mysql://ess@db/payroll", SqlAlchemyUrl),
        ("odbc", "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db;PWD=pw", Odbc),
    ],
)
def test_each_kind_of_database_gets_its_own_driver(kind, connection, driver):
    assert type(driver_for(_block(connection, kind))) is driver


def test_only_postgresql_streams_through_a_server_side_cursor():
    class Connection:
        def cursor(self, **named):
            return named

    postgres = driver_for(_block("postgresql://ess@db/payroll"))
    assert "name" in postgres.cursor(Connection(), streamed=True)
    assert postgres.cursor(Connection(), streamed=False) == {}
    assert SqliteUrl(sa.make_url("sqlite:///p.db")).cursor(Connection(), streamed=True) == {}


def test_sqlite_is_given_payroll_timestamps_as_text():
    sqlite = driver_for(_block("sqlite:////srv/payroll.db"))
    assert sqlite.params([datetime(2026, 1, 2, 3, 4, 5), 7]) == ["2026-01-02 03:04:05", 7]
    assert not sqlite.declares_columns


def test_the_block_shows_its_connection_without_the_password():
    assert _block("postgresql://ess:pw@db/payroll").connection_display() == (
        "postgresql://ess:***@db/payroll"
    )
    assert _block("DRIVER={x};UID=ess;PWD=pw", "odbc").connection_display() == (
        "DRIVER={x};UID=ess;PWD=***"
    )
