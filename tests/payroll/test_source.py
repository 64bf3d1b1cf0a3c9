"""Reading payroll for real: PostgreSQL through its SQLAlchemy URL and through unixODBC."""

import contextlib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from datetime import UTC, date, datetime
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from blocks.payroll_database import PayrollDatabase
from core.leave import BALANCE_COLUMNS, PLACES
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import leave_balance, leave_balance_digest
from ess.store.log import read_log
from ess.store.registry import list_databases, register_database
from flows.sync_from_payroll import sync_from_payroll
from flows.sync_leave_balances import sync_leave_balances
from jobs.context import JobContext, job_context
from payroll import drivers, source
from payroll.source import PayrollReadError
from tests.conftest import ODBC_DRIVER
from tests.support import execute, fill_lookups, insert_rows, query_rows

ODBC_PASSWORD = "odbc-Pa55word-never-shown"


def _odbc_string(url: str, database: str | None = None) -> str:
    u = sa.make_url(url)
    return (
        f"DRIVER={{{ODBC_DRIVER}}};SERVER={u.host};PORT={u.port or 5432};"
        f"DATABASE={database or u.database};UID={u.username};PWD={ODBC_PASSWORD}"
    )


def _completed_counts(database):
    return [r.message for r in read_log(database, limit=100) if r.message.startswith("Imported")]


@pytest.mark.postgres
def test_a_payroll_on_postgresql_syncs_through_its_url(ess, payroll_postgres, prefect_api):
    fill_lookups(payroll_postgres)
    register_database("pg_payroll", url=payroll_postgres)
    assert sync_from_payroll(database="pg_payroll", return_state=True).is_completed()
    assert "Imported state: 3 added, 0 updated, 0 deactivated, 0 unchanged." in (
        _completed_counts("pg_payroll")
    )


@pytest.mark.odbc
def test_a_payroll_syncs_through_pyodbc_and_unixodbc(ess, payroll_postgres, prefect_api):
    fill_lookups(payroll_postgres)
    register_database("odbc_payroll", odbc=_odbc_string(payroll_postgres))
    assert sync_from_payroll(database="odbc_payroll", return_state=True).is_completed()
    counts = _completed_counts("odbc_payroll")
    assert "Imported super fund: 3 added, 0 updated, 0 deactivated, 0 unchanged." in counts
    assert sync_from_payroll(database="odbc_payroll", return_state=True).is_completed()
    assert "Imported super fund: 0 added, 0 updated, 0 deactivated, 3 unchanged." in (
        _completed_counts("odbc_payroll")
    )
    [registered] = list_databases()
    assert ODBC_PASSWORD not in registered.connection_display
    assert "PWD=***" in registered.connection_display


@pytest.mark.odbc
def test_leave_balances_through_odbc_are_all_compared_every_time(
    ess, payroll_postgres, prefect_api
):
    """ODBC gives no snapshot, so no digest: every re-sync reads every balance, and none is
    kept that a later sync could trust."""
    fill_lookups(payroll_postgres)
    day = date(2025, 6, 26)
    insert_rows(
        payroll_postgres,
        "leave_balance",
        [
            {"employee_id": e, "leave_type_code": "AL", "balance": e, "accrued_to": day}
            for e in (1, 2, 3)
        ],
    )
    register_database("odbc_payroll", odbc=_odbc_string(payroll_postgres))
    assert sync_leave_balances(database="odbc_payroll", return_state=True).is_completed()
    execute(payroll_postgres, "UPDATE leave_balance SET balance = 9 WHERE employee_id = 2")
    assert sync_leave_balances(database="odbc_payroll", return_state=True).is_completed()
    assert _completed_counts("odbc_payroll")[-1] == (
        "Imported leave balances: 3 employees, 1 balances updated, 2 unchanged."
    )
    with ess_engine().connect() as conn:
        digests = conn.execute(sa.select(sa.func.count()).select_from(leave_balance_digest))
        assert digests.scalar() == 0
        balances = sa.select(leave_balance.c.payroll_employee_id, leave_balance.c.balance)
        held = dict(conn.execute(balances).tuples().all())
    assert {e: str(b) for e, b in held.items()} == {1: "1.0000", 2: "9.0000", 3: "3.0000"}


@pytest.mark.odbc
def test_an_odbc_failure_names_the_database_and_never_the_password(
    ess, payroll_postgres, prefect_api
):
    register_database("missing_payroll", odbc=_odbc_string(payroll_postgres, "no_such_db"))
    state = sync_from_payroll(database="missing_payroll", return_state=True)
    assert state.is_failed()
    last = read_log("missing_payroll")[-1].message
    assert last.startswith("Job Failed: Importing country failed: payroll database missing_payroll")
    assert "no_such_db" in last
    assert all(ODBC_PASSWORD not in r.message for r in read_log(limit=1000))


@pytest.mark.odbc
def test_the_test_suites_odbc_connections_leave_no_driver_log_behind(payroll_postgres):
    """Debian's odbcinst.ini turns psqlODBC's communication log on (CommLog=1): a process
    that connected left /tmp/psqlodbc_<program>_<user><pid>.log behind, one per test process.
    The connection string cannot turn it off (the driver logs its disconnects by the global
    setting); tests/conftest.py gives the test run an odbcinst.ini of its own. Checked in a
    process of its own (it inherits the run's environment, as a worker does)."""
    script = (  # psqlODBC names its log psqlodbc_<program>_<user><pid>.log
        "import getpass, glob, os, pyodbc, sys\n"
        "mine = f'/tmp/psqlodbc_*_{getpass.getuser()}{os.getpid()}.log'\n"
        "before = set(glob.glob(mine))\n"
        "pyodbc.connect(sys.argv[1]).close()\n"
        "print(len(set(glob.glob(mine)) - before))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script, _odbc_string(payroll_postgres)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert found.stdout.strip() == "0"


@pytest.mark.odbc
def test_the_odbc_reader_streams_rows_in_chunks(payroll_postgres):
    fill_lookups(payroll_postgres)
    block = PayrollDatabase(
        database_name="odbc_payroll",
        connection_kind="odbc",
        connection_string=_odbc_string(payroll_postgres),
    )
    with block.reader() as reader:
        chunks = list(reader.chunks(select_all("state", ("state_code",), ("state_code",)), size=2))
    assert chunks == [[("NSW",), ("QLD",)], [("VIC",)]]


@pytest.mark.odbc
def test_a_job_past_its_limit_stops_an_odbc_query_after_the_readers_first(payroll_postgres):
    """pyodbc refuses to cancel a cursor already closed: the job's cancel hook must still
    reach the query running now, not stop at the reader's first (closed) cursor."""
    block = PayrollDatabase(
        database_name="odbc_payroll",
        connection_kind="odbc",
        connection_string=_odbc_string(payroll_postgres),
        query_timeout_seconds=120,
    )
    job = JobContext("odbc_payroll", None, 120)
    expiry = threading.Timer(1.0, job.expire)  # as the heartbeat does past the limit
    with (
        pytest.raises(PayrollReadError, match=r"odbc_payroll: .*canceling statement") as failed,
        job_context(job),
        block.reader() as reader,
    ):
        assert reader.all("SELECT 1") == [(1,)]  # its cursor is closed once read
        assert reader.all("SELECT 2") == [(2,)]
        expiry.start()
        started = time.monotonic()
        try:
            reader.all("SELECT pg_sleep(30)")
        finally:
            expiry.cancel()
    assert time.monotonic() - started < 15
    assert failed.value.timed_out  # the Web API Log says the job ran past its limit


@pytest.mark.odbc
def test_a_cancel_that_lands_as_the_reader_closes_does_not_crash_the_process(payroll_postgres):
    """The heartbeat cancels a query past the job's limit while the step's thread, that query
    ended, closes its cursor and connection. pyodbc cancelling a statement its connection
    was freeing crashed the process (a segmentation fault: 2 runs in 4 of this test before
    the fix). Cancels land at 25 moments around the end of a short query, six times each."""
    block = PayrollDatabase(
        database_name="odbc_payroll",
        connection_kind="odbc",
        connection_string=_odbc_string(payroll_postgres),
        query_timeout_seconds=120,
    )
    stopped = 0
    for n in range(150):
        job = JobContext("odbc_payroll", None, 120)
        expiry = threading.Timer(0.002 * (n % 25), job.expire)
        try:
            with job_context(job), block.reader() as reader:
                for query in range(5):  # closed cursors before the one running
                    assert reader.all(f"SELECT {query}") == [(query,)]
                expiry.start()
                reader.all("SELECT pg_sleep(0.03)")
        except PayrollReadError as exc:
            # A cancel between the query's end and its fetch ends it with the driver's
            # "Function sequence error" instead: the job is past its limit either way.
            stopped += exc.timed_out
        expiry.join()
    assert stopped > 0  # the cancels reached queries running, not only readers closing


@pytest.mark.postgres
def test_the_reader_cannot_write_to_payroll_on_postgresql(payroll_postgres):
    block = PayrollDatabase(
        database_name="pg_payroll", connection_kind="url", connection_string=payroll_postgres
    )
    with block.reader() as reader:
        assert reader.all("SELECT current_setting('transaction_read_only')") == [("on",)]


def test_the_reader_cannot_write_to_payroll_on_sqlite(payroll_sqlite):
    block = PayrollDatabase(
        database_name="lite_payroll", connection_kind="url", connection_string=payroll_sqlite
    )
    with pytest.raises(PayrollReadError, match="readonly"), block.reader() as reader:
        reader.all("INSERT INTO gender VALUES ('Z', 'Zed')")


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["url", pytest.param("odbc", marks=pytest.mark.odbc)])
def test_the_reader_knows_the_widths_and_scales_payroll_declares(payroll_postgres, kind):
    connection = payroll_postgres if kind == "url" else _odbc_string(payroll_postgres)
    block = PayrollDatabase(
        database_name="pg_payroll", connection_kind=kind, connection_string=connection
    )
    sql = select_all("leave_balance", BALANCE_COLUMNS)
    with block.reader() as reader:
        assert reader.all(sql) == []
        # schema.sql: leave_type_code VARCHAR(10), balance DECIMAL(12,4)
        assert reader.widths_of(sql)["leave_type_code"] == 10
        assert reader.scales_of(sql)["balance"] == PLACES


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_reading_a_failure_left_open_is_closed_with_its_reader(kind, request):
    # Closed while the connection is still open: left to the garbage collector, it would
    # close its cursor on a connection long gone and raise there, in whatever runs next.
    url = request.getfixturevalue(f"payroll_{kind}")
    fill_lookups(url)
    block = PayrollDatabase(database_name="payroll", connection_kind="url", connection_string=url)
    # The caller's own error comes out as it was raised: it is not payroll's.
    with pytest.raises(RuntimeError, match=r"^stopped half way$"), block.reader() as reader:
        reading = reader.chunks(select_all("state", ("state_code",), ("state_code",)), size=1)
        assert next(reading) == [("NSW",)]
        raise RuntimeError("stopped half way")
    assert reading.gi_frame is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_only_payrolls_own_failures_are_reported_as_payrolls(kind, request):
    # A step reads payroll and writes ESS inside one reader: ESS's server refusing a write
    # must not come out as "payroll database ...: ...", which sends support to the wrong
    # server; a query payroll refuses, mid-read, still does.
    url = request.getfixturevalue(f"payroll_{kind}")
    fill_lookups(url)
    block = PayrollDatabase(database_name="payroll", connection_kind="url", connection_string=url)
    ess_refused = sa.exc.IntegrityError("INSERT INTO employee", {}, Exception("duplicate key"))
    with pytest.raises(sa.exc.IntegrityError) as raised, block.reader() as reader:
        assert reader.all("SELECT COUNT(*) FROM state") == [(3,)]
        raise ess_refused
    assert raised.value is ess_refused
    # An error payroll's server raises as it computes the third row, once rows have come.
    overflow = (
        "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 5) "
        "SELECT x, abs(-9223372036854775807 - CASE WHEN x = 3 THEN 1 ELSE 0 END) FROM g"
    )
    rows = []
    with (
        pytest.raises(PayrollReadError, match=r"^payroll database payroll: ") as raised,
        block.reader() as reader,
    ):
        for chunk in reader.chunks(overflow, size=1):
            rows += chunk
    # Mid-read: rows came first (sqlite3 steps one row ahead of what it hands out).
    assert [x for x, _ in rows] in ([1], [1, 2])
    assert raised.value.cause_name != "PayrollReadError"
    with (
        pytest.raises(PayrollReadError, match=r"^payroll database payroll: "),
        block.reader() as reader,
    ):
        reader.all("SELECT no_such_column FROM state")


@pytest.mark.postgres
def test_a_failure_closing_payroll_is_payrolls_scrubbed_and_never_replaces_the_callers(
    payroll_postgres, monkeypatch
):
    # Closing payroll's connection fails (the network went): with nothing else wrong it is
    # payroll's failure, its secret scrubbed; after the step's own error it is not the one
    # raised, and its words are nowhere in what is.
    password = "Pa55:/@%;{}[0]<b>&x"
    url = sa.make_url(payroll_postgres).set(password=password)  # trust auth: any password
    connection = url.render_as_string(hide_password=False)
    block = PayrollDatabase(
        database_name="payroll", connection_kind="url", connection_string=connection
    )
    real, failed_closing = source.driver_for, []

    class ClosingFails:
        def __init__(self, driver):
            self._driver = driver

        def __getattr__(self, name):
            return getattr(self._driver, name)

        @contextlib.contextmanager
        def open(self, block):
            # Fails as it closes whether the caller's block ended well or raised.
            try:
                with self._driver.open(block) as session:
                    yield session
            finally:
                failed_closing.append(True)
                raise ConnectionError(f"lost closing {connection} (password {password})")

    monkeypatch.setattr(source, "driver_for", lambda block: ClosingFails(real(block)))
    with (
        pytest.raises(PayrollReadError, match=r"^payroll database payroll: lost closing") as lost,
        block.reader() as reader,
    ):
        assert reader.all("SELECT 1") == [(1,)]
    shown = "".join(traceback.format_exception(lost.value))
    assert password not in shown and quote(password, safe="") not in shown

    own = RuntimeError("the step's own")
    with pytest.raises(RuntimeError) as raised, block.reader() as reader:
        reader.all("SELECT 1")
        raise own
    assert raised.value is own and failed_closing == [True, True]
    shown = "".join(traceback.format_exception(raised.value))
    assert "lost closing" not in shown and password not in shown


def _backends(url):
    """Connections to this payroll database other than ours (PostgreSQL's view)."""
    [(count,)] = query_rows(
        url,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return count


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_jobs_readers_share_one_connection_that_ends_each_read_and_closes_with_the_job(
    kind, request, monkeypatch
):
    url = request.getfixturevalue(f"payroll_{kind}")
    fill_lookups(url)
    block = PayrollDatabase(database_name="payroll", connection_kind="url", connection_string=url)
    connections = []
    sql = select_all("state", ("state_code",), ("state_code",))
    job = JobContext("payroll", 1, 60)
    with job_context(job):
        for _ in range(3):  # three steps, each its own reader
            with block.reader() as reader:
                reader.snapshot()
                assert reader.all(sql) == [("NSW",), ("QLD",), ("VIC",)]
                connections.append(reader._session.connection)
            # Nothing held between steps: no read transaction is left open.
            if kind == "postgres":
                assert connections[-1].info.transaction_status.name == "IDLE"
            else:
                assert not connections[-1].in_transaction
        assert all(c is connections[0] for c in connections)
        if kind == "postgres":
            assert _backends(url) == 1
        # A reader opened while another is open gets a connection of its own: ending its
        # reads cannot end the other's snapshot.
        with block.reader() as outer:
            outer.snapshot()
            with block.reader() as inner:
                assert inner._session.connection is not outer._session.connection
                assert inner.all(sql)
            assert outer._session.connection is connections[0]
            assert outer.all(sql)
    # The job's end closed it.
    if kind == "postgres":
        assert _backends(url) == 0
    else:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            connections[0].execute("SELECT 1")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failed_read_closes_the_jobs_connection_and_the_next_reader_opens_a_new_one(
    kind, request
):
    url = request.getfixturevalue(f"payroll_{kind}")
    fill_lookups(url)
    block = PayrollDatabase(database_name="payroll", connection_kind="url", connection_string=url)
    with job_context(JobContext("payroll", 1, 60)):
        with (
            pytest.raises(PayrollReadError, match="payroll database payroll: "),
            block.reader() as reader,
        ):
            first = reader._session.connection
            reader.all("SELECT no_such_column FROM state")
        # As a step's retry would: a connection that failed is not trusted again.
        with block.reader() as reader:
            assert reader._session.connection is not first
            assert reader.all("SELECT COUNT(*) FROM state") == [(3,)]


@pytest.mark.postgres
def test_a_jobs_connection_lost_between_steps_is_opened_again_by_the_next(payroll_postgres):
    url = payroll_postgres
    fill_lookups(url)
    block = PayrollDatabase(database_name="payroll", connection_kind="url", connection_string=url)
    with job_context(JobContext("payroll", 1, 60)):
        with block.reader() as reader:
            assert reader.all("SELECT COUNT(*) FROM state") == [(3,)]
            pid = reader._session.connection.info.backend_pid
        # Payroll's server ends the idle connection between two steps (a restart, a DBA).
        assert query_rows(url, f"SELECT pg_terminate_backend({pid})") == [(True,)]
        with block.reader() as reader:  # the next step reads as if nothing happened
            assert reader.all("SELECT COUNT(*) FROM state") == [(3,)]
            assert reader._session.connection.info.backend_pid != pid


READER_KINDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("odbc", marks=[pytest.mark.postgres, pytest.mark.odbc]),
]
"""Every way the sync reads payroll: SQLite, PostgreSQL by URL, and through unixODBC."""


def payroll_block(kind, request):
    """An empty payroll of a READER_KINDS kind: its URL, and the block that reads it."""
    url = request.getfixturevalue("payroll_sqlite" if kind == "sqlite" else "payroll_postgres")
    if kind == "odbc":
        return url, PayrollDatabase(
            database_name="payroll", connection_kind="odbc", connection_string=_odbc_string(url)
        )
    return url, PayrollDatabase(
        database_name="payroll", connection_kind="url", connection_string=url
    )


@pytest.mark.parametrize("kind", READER_KINDS)
def test_the_feed_reaches_back_only_when_it_keeps_a_change_from_then_or_before(kind, request):
    from tasks.employees import _feed_holds

    url, block = payroll_block(kind, request)
    since = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)

    def holds():
        with block.reader() as reader:
            return _feed_holds(reader, since)

    assert not holds()  # an empty feed proves nothing
    execute(url, "INSERT INTO employee_changed VALUES (1, 1, '2026-11-30 02:00:01')")
    assert not holds()  # it starts a second after: a change in between may be lost
    execute(url, "INSERT INTO employee_changed VALUES (2, 1, '2026-11-30 02:00:00')")
    assert holds()  # one kept from then, wherever it sits in the feed
    execute(url, "DELETE FROM employee_changed WHERE change_id = 2")
    execute(url, "INSERT INTO employee_changed VALUES (3, 1, '2025-07-01 00:00:00')")
    assert holds()


@pytest.mark.postgres
def test_a_snapshot_postgresql_will_not_share_is_begun_again_and_read_in_turn(payroll_postgres):
    """pg_export_snapshot refused (here: from a subtransaction; an old standby refuses too)
    leaves the reader in a fresh snapshot that reads, and says it shares none."""
    from payroll.drivers import PostgresUrl

    driver = PostgresUrl(sa.make_url(payroll_postgres))
    block = PayrollDatabase(
        database_name="acme_payroll", connection_kind="url", connection_string=payroll_postgres
    )
    with driver.open(block) as session:
        connection = session.connection
        cursor = connection.cursor()
        cursor.execute("SAVEPOINT before_export")
        cursor.close()
        assert driver.share_snapshot(connection) is None
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM employee")
        assert cursor.fetchone() == (0,)
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone() == ("repeatable read",)
        cursor.close()
        # Outside a subtransaction it shares one, in the form join_snapshot takes.
        driver.begin_snapshot(connection)
        name = driver.share_snapshot(connection)
        assert name is not None
        with driver.open(block) as beside:
            driver.join_snapshot(beside.connection, name)


def test_only_a_snapshot_name_postgresql_gives_is_joined():
    """The name goes into SET TRANSACTION SNAPSHOT as a literal: nothing else is let in."""
    from payroll.drivers import PostgresUrl

    driver = PostgresUrl(sa.make_url("postgresql+psycopg://nobody@127.0.0.1/none"))
    with pytest.raises(ValueError, match="not a PostgreSQL snapshot name"):
        driver.join_snapshot(None, "00000003-0000001B-1'; DROP TABLE employee; --")


def test_a_payroll_server_that_takes_the_connection_and_never_answers_is_given_up(monkeypatch):
    """libpq would wait for ever on a server frozen after accepting (the kernel takes the
    connection; nobody reads it), and no job deadline ends a call blocked in the driver."""
    monkeypatch.setattr(drivers, "CONNECT_TIMEOUT_SECONDS", 2)  # libpq's least
    password = "p@ss/w%rd;{0}<b>x</b>"
    with socket.socket() as frozen:
        frozen.bind(("127.0.0.1", 0))
        frozen.listen(8)  # never accepted, never answered
        port = frozen.getsockname()[1]
        url = f"postgresql+psycopg://reader:{quote(password, safe='')}@127.0.0.1:{port}/payroll"
        block = PayrollDatabase(
            database_name="frozen_payroll", connection_kind="url", connection_string=url
        )
        started = time.monotonic()
        with pytest.raises(PayrollReadError, match="frozen_payroll") as failed, block.reader():
            pass
        waited = time.monotonic() - started
    assert 1.5 < waited < 15
    message = str(failed.value)
    assert password not in message and quote(password, safe="") not in message


def test_a_payroll_url_that_sets_its_own_connect_timeout_keeps_it():
    block = PayrollDatabase(
        database_name="p",
        connection_kind="url",
        connection_string="postgresql+psycopg://reader@127.0.0.1/payroll?connect_timeout=7",
    )
    url = sa.engine.make_url(block.connection_string.get_secret_value())
    assert "connect_timeout" not in drivers.PostgresUrl(url).engine_options(block)["connect_args"]
    plain = url.difference_update_query(["connect_timeout"])
    assert drivers.PostgresUrl(plain).engine_options(block)["connect_args"]["connect_timeout"] == 30
