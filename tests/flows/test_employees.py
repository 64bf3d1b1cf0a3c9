"""The employees step end to end: change feed, ownership, bad rows, secrets, two databases."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from core.employees import SAMPLED
from ess.database import ess_engine
from ess.schema import employee, employee_issue, metadata, payroll_database
from ess.store import bulk
from ess.store.employees import ServerComparison
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from flows.sync_from_payroll import sync_from_payroll
from generator import add_hard_cases, build_payroll, change_employees
from tasks import employees as employees_step
from tests.support import execute, markdown_shown, query_rows, secrets_in

runner = CliRunner()


def _build(url, employees=60, seed=1):
    engine = sa.create_engine(url)
    build_payroll(engine, employees=employees, seed=seed, leave_types_per_employee=2)
    engine.dispose()


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    _build(payroll_sqlite)
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _sync(database="acme_payroll", **kwargs):
    state = sync_from_payroll(database=database, return_state=True, **kwargs)
    assert state.is_completed(), state.message
    return state.result()


def _employees_row(database="acme_payroll"):
    return [
        r.message
        for r in read_log(database, limit=500)
        if r.message.startswith("Imported employees")
    ][-1]


def _ess_employees(database="acme_payroll"):
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(employee).where(employee.c.payroll_database == database))
        return {r.code_key: r for r in rows.mappings()}


def test_a_first_sync_imports_every_employee_and_a_resync_changes_nothing(acme):
    _sync()
    assert _employees_row() == (
        "Imported employees: 60 added, 0 updated, 0 terminated, 0 unchanged, 0 rejected."
    )
    assert len(_ess_employees()) == 60
    _sync()
    assert _employees_row().startswith("Imported employees: 0 added, 0 updated, 0 terminated,")
    _sync(full=True)
    assert _employees_row() == (
        "Imported employees: 0 added, 0 updated, 0 terminated, 60 unchanged, 0 rejected."
    )


def test_only_the_change_feed_is_read_and_the_watermark_moves_on_commit(acme):
    _sync()
    first_mark = get_database("acme_payroll").employee_watermark
    later = datetime(2025, 7, 10, 9, 30)
    changed = change_employees(sa.create_engine(acme), 0.1, seed=3, at=later)
    result = _sync()
    counts = result.step("employees")
    assert counts.count("updated") + counts.count("terminated") == len(changed)
    assert counts.count("added") == 0
    # Only the feed's employees were read: those changed plus any within the overlap.
    assert counts.count("unchanged") < 60 - len(changed)
    assert get_database("acme_payroll").employee_watermark == later.replace(tzinfo=UTC)
    assert first_mark < later.replace(tzinfo=UTC)


def test_a_change_missed_by_the_feed_is_repaired_by_a_full_sync(acme):
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Missed-Feed' WHERE employee_id = 5")
    _sync()
    assert _ess_employees()["E000005"]["surname"] != "Missed-Feed"
    _sync(full=True)
    assert _ess_employees()["E000005"]["surname"] == "Missed-Feed"
    assert "1 updated" in _employees_row()


def _log_messages(database="acme_payroll"):
    return [r.message for r in read_log(database, limit=500)]


def test_a_feed_truncated_past_the_watermark_makes_the_next_sync_read_everyone(acme):
    _sync()
    mark = get_database("acme_payroll").employee_watermark
    # Drift the feed never saw, then a payroll upgrade that keeps only changes after the
    # watermark: the dropped rows could have named anyone.
    execute(acme, "UPDATE employee SET surname = 'Unfed' WHERE employee_id = 5")
    kept = (mark + timedelta(minutes=5)).replace(tzinfo=None)
    execute(acme, "DELETE FROM employee_changed")
    _feed(acme, 9, kept.isoformat(sep=" "), 990001)
    result = _sync()
    gap = (
        f"Change feed does not reach back to {mark:%Y-%m-%d %H:%M:%S} "
        f"(oldest change kept: {kept:%Y-%m-%d %H:%M:%S}); reading every employee."
    )
    assert gap in _log_messages()
    assert _log_messages().index(gap) > _log_messages().index("Importing employees.")
    assert _ess_employees()["E000005"]["surname"] == "Unfed"
    counts = result.step("employees")
    assert counts.count("updated") == 1 and counts.count("unchanged") == 59
    # The full read moved the watermark to the feed's end: the next sync reads changes.
    assert get_database("acme_payroll").employee_watermark == kept.replace(tzinfo=UTC)


def test_an_emptied_feed_also_reads_everyone_and_says_none_is_kept(acme):
    _sync()
    execute(acme, "DELETE FROM employee_changed")
    execute(acme, "UPDATE employee SET surname = 'Unfed' WHERE employee_id = 7")
    _sync()
    assert any("(oldest change kept: none); reading every employee." in m for m in _log_messages())
    assert _ess_employees()["E000007"]["surname"] == "Unfed"


def test_a_feed_reaching_back_past_the_overlap_is_read_as_changes(acme):
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Unfed' WHERE employee_id = 5")
    _sync()
    assert not any("reading every employee" in m for m in _log_messages())
    assert _ess_employees()["E000005"]["surname"] != "Unfed"


def test_employees_without_a_watermark_are_all_read_and_the_log_says_why(acme):
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Unfed' WHERE employee_id = 5")
    # ESS restored from a backup taken before watermarks were kept.
    with ess_engine().begin() as conn:
        conn.execute(
            payroll_database.update()
            .where(payroll_database.c.name == "acme_payroll")
            .values(employee_watermark=None)
        )
    _sync()
    assert (
        "ESS holds employees of acme_payroll but no record of how far payroll's change feed "
        "was read (an ESS restored from a backup?); reading every employee."
    ) in _log_messages()
    assert _ess_employees()["E000005"]["surname"] == "Unfed"
    assert get_database("acme_payroll").employee_watermark is not None


def test_payroll_updates_only_the_fields_it_owns(acme):
    _sync()
    with ess_engine().begin() as conn:
        conn.execute(
            sa.update(employee)
            .where(employee.c.code_key == "E000009")
            .values(mobile="0499 999 999", preferred_name="Bec", suburb="Fitzroy")
        )
    stamp = "2025-08-01 08:00:00"
    execute(
        acme,
        "UPDATE employee SET surname = 'Okafor', mobile = '0411 111 111', "
        f"suburb = 'Carlton', last_modified = '{stamp}' WHERE employee_id = 9",
    )
    execute(acme, f"INSERT INTO employee_changed VALUES (999999, 9, '{stamp}')")
    _sync()
    row = _ess_employees()["E000009"]
    assert row["surname"] == "Okafor"
    assert (row["mobile"], row["preferred_name"], row["suburb"]) == (
        "0499 999 999",
        "Bec",
        "Fitzroy",
    )


def test_every_hard_case_is_named_and_held_and_the_rest_syncs(acme):
    hard = add_hard_cases(sa.create_engine(acme))
    _sync()
    messages = [r.message for r in read_log("acme_payroll", limit=500)]
    [dup] = hard["duplicate_code"]
    dup_ids = [
        r[0]
        for r in query_rows(acme, f"SELECT employee_id FROM employee WHERE employee_code = '{dup}'")
    ]
    dup_rows = [m for m in messages if m.startswith(f"Rejected employee {dup}:")]
    assert len(dup_rows) == 1 and all(str(i) in dup_rows[0] for i in dup_ids)
    assert any(
        m.startswith(f"Rejected employee {hard['impossible_date'][0]}: date_hired '2023-02-30'")
        for m in messages
    )
    assert any(
        m.startswith(f"Warning for employee {hard['unknown_location'][0]}: location_code 'ZZZ'")
        for m in messages
    )
    assert any(
        m.startswith(f"Warning for employee {hard['unknown_manager'][0]}: manager_code")
        for m in messages
    )
    ess_codes = set(_ess_employees())
    assert dup not in ess_codes and hard["impossible_date"][0] not in ess_codes
    assert hard["unknown_location"][0] in ess_codes and hard["unknown_manager"][0] in ess_codes
    # Nothing is silently dropped: every payroll employee is in ESS or held back.
    with ess_engine().connect() as conn:
        held = set(conn.execute(sa.select(employee_issue.c.payroll_employee_id)).scalars())
    ess_ids = {r["payroll_employee_id"] for r in _ess_employees().values()}
    payroll_ids = {r[0] for r in query_rows(acme, "SELECT employee_id FROM employee")}
    assert payroll_ids == ess_ids | (held - ess_ids)
    listed = json.loads(runner.invoke(app, ["rejects", "acme_payroll", "--json"]).output)
    assert {(i["employee_code"], i["outcome"]) for i in listed} >= {
        (dup, "rejected"),
        (hard["impossible_date"][0], "rejected"),
        (hard["unknown_location"][0], "warning"),
        (hard["unknown_manager"][0], "warning"),
    }


def test_a_rejected_employee_is_imported_once_payroll_fixes_it(acme):
    hard = add_hard_cases(sa.create_engine(acme))
    _sync()
    [code] = hard["impossible_date"]
    stamp = "2030-01-01 00:00:00"
    execute(
        acme,
        f"UPDATE employee SET date_hired = '2023-02-28', last_modified = '{stamp}' "
        f"WHERE employee_code = '{code}'",
    )
    execute(
        acme,
        f"INSERT INTO employee_changed SELECT 888888, employee_id, '{stamp}' "
        f"FROM employee WHERE employee_code = '{code}'",
    )
    _sync()
    assert code in _ess_employees()
    listed = json.loads(runner.invoke(app, ["rejects", "acme_payroll", "--json"]).output)
    assert code not in {i["employee_code"] for i in listed}


def test_no_tfn_or_bank_account_appears_in_ess_logs_or_output(acme):
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    add_hard_cases(sa.create_engine(acme))
    _sync()
    change_employees(sa.create_engine(acme), 0.2, seed=9, at=datetime(2025, 9, 1))
    _sync()
    secrets = {
        s
        for r in query_rows(acme, "SELECT tax_file_number, bank_account_number FROM employee")
        for s in r
        if s
    }
    assert len(secrets) > 100
    texts = []
    with ess_engine().connect() as conn:
        for table in metadata.sorted_tables:
            texts += [" ".join(map(str, r)) for r in conn.execute(sa.select(table))]
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        texts += [log.message for log in client.read_logs(limit=200)]
        texts += [log.message for log in client.read_logs(limit=200, offset=200)]
        artifacts = client.read_artifacts(limit=200)
        assert any(a.type == "markdown" for a in artifacts)
        texts += [str(a.data) for a in artifacts]
        # As the Prefect UI shows them: a secret is found with its markdown escapes undone.
        texts += ["\n".join(markdown_shown(str(a.data))) for a in artifacts if a.type == "markdown"]
    for code in ("E000001", "E000030"):
        texts.append(runner.invoke(app, ["show", "employee", "acme_payroll", code]).output)
        texts.append(
            runner.invoke(app, ["show", "employee", "acme_payroll", code, "--json"]).output
        )
    texts.append(runner.invoke(app, ["rejects", "acme_payroll", "--json"]).output)
    texts.append(runner.invoke(app, ["log", "acme_payroll", "--limit", "500"]).output)
    haystack = "\n".join(texts)
    assert "*****" in haystack
    leaked = secrets_in(haystack, secrets)
    assert leaked == []


def test_two_databases_with_the_same_codes_sync_independently(acme, tmp_path):
    other = f"sqlite:///{tmp_path / 'beta.db'}"
    _build(other)
    register_database("beta_payroll", url=other)
    _sync("acme_payroll")
    _sync("beta_payroll")
    before = _ess_employees("acme_payroll")
    change_employees(sa.create_engine(other), 0.5, seed=4, at=datetime(2025, 8, 8))
    execute(other, "DELETE FROM employee WHERE employee_id = 3")
    _sync("beta_payroll", full=True)
    assert _ess_employees("acme_payroll") == before
    assert set(_ess_employees("beta_payroll")) == set(before)
    assert _ess_employees("beta_payroll")["E000003"]["in_payroll"] is False
    assert before["E000003"]["in_payroll"] is True


def test_a_preview_writes_nothing_but_one_log_row(acme):
    _sync()
    change_employees(sa.create_engine(acme), 0.1, seed=6, at=datetime(2025, 7, 20))

    def snapshot():
        with ess_engine().connect() as conn:
            return {
                t.name: conn.execute(sa.select(t)).all()
                for t in metadata.sorted_tables
                if t.name != "web_api_log"
            }

    before, log_before = snapshot(), len(read_log("acme_payroll", limit=1000))
    result = _sync(preview=True)
    assert snapshot() == before
    log_after = read_log("acme_payroll", limit=1000)
    assert len(log_after) == log_before + 1
    assert log_after[-1].message == "Preview only: nothing was changed."
    counts = result.step("employees")
    assert counts.count("updated") + counts.count("terminated") == 6
    assert sum(len(v) for k, v in counts.samples if k != "unchanged") == 6
    applied = _sync().step("employees")
    assert (applied.count("updated"), applied.count("terminated")) == (
        counts.count("updated"),
        counts.count("terminated"),
    )


def test_a_failed_employees_step_leaves_the_watermark_and_writes_nothing(acme):
    _sync()
    mark = get_database("acme_payroll").employee_watermark
    stamp = (mark + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    execute(acme, f"INSERT INTO employee_changed VALUES (777777, 4, '{stamp}')")
    execute(acme, "ALTER TABLE employee RENAME TO employee_gone")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_failed()
    assert read_log("acme_payroll")[-1].message.startswith(
        "Job Failed: Importing employees failed: payroll database acme_payroll:"
    )
    assert get_database("acme_payroll").employee_watermark == mark
    with ess_engine().connect() as conn:
        assert (
            conn.execute(sa.select(payroll_database.c.last_sync_from_payroll)).scalar_one()
            is not None
        )


def _feed(url, employee_id, stamp, change_id):
    execute(url, f"INSERT INTO employee_changed VALUES ({change_id}, {employee_id}, '{stamp}')")


def _manager_warnings(database="acme_payroll"):
    with ess_engine().connect() as conn:
        rows = conn.execute(
            sa.select(employee_issue.c.employee_code).where(
                employee_issue.c.payroll_database == database,
                employee_issue.c.field == "manager_code",
            )
        )
        return set(rows.scalars())


def test_manager_warnings_match_codes_as_esss_reads_do_and_never_a_rejected_manager(acme):
    """The employees whose manager is missing after a first import: a manager named in
    another case and with spaces is found, one payroll's rules reject is not (nor are codes
    two employees share), an employee may manage themself, and a code that looks like
    markup is quoted as it is. A read of everyone into an ESS holding them warns the same."""
    from core.employee_changes import ManagerScope
    from ess.store.employees import missing_managers

    edits = {
        2: "manager_code = ' e000001 '",  # found: codes match trimmed, without case
        4: "date_hired = '2023-02-30'",  # rejected: not in ESS, not a manager
        3: "manager_code = 'E000004'",
        6: "manager_code = 'E000006'",  # themself
        7: "manager_code = 'NOBODY'",
        9: "employee_code = 'E000008'",  # 8 and 9 share a code: neither is imported
        10: "manager_code = 'E000008'",
        11: "manager_code = '[/b]{0}<i>'",  # looks like markup, names no one
    }
    for employee_id, change in edits.items():
        execute(acme, f"UPDATE employee SET {change} WHERE employee_id = {employee_id}")

    first = _sync()
    assert first.step("employees").count("added") == 60 - 3
    warned = _manager_warnings()
    assert {"E000003", "E000007", "E000010", "E000011"} <= warned
    assert not {"E000002", "E000006"} & warned
    with ess_engine().connect() as conn:
        found = missing_managers(conn, "acme_payroll", ManagerScope(everyone=True))
    assert {i.employee_code for i in found} == warned
    messages = {r.message for r in read_log("acme_payroll", limit=500)}
    assert (
        "Warning for employee E000011: manager_code '[/B]{0}<I>' names no employee of this "
        "payroll; imported without a manager." in messages
    )

    # A read of everyone into an ESS that holds them asks ESS's server: the same warnings.
    _sync(full=True)
    assert _manager_warnings() == warned


def test_a_manager_who_joins_or_leaves_changes_the_warnings_of_reports_not_read(acme):
    from ess.store.reads import employee_record

    _sync()
    before = _manager_warnings()
    stamp = "2030-01-01 00:00:00"
    execute(
        acme,
        f"UPDATE employee SET manager_code = 'BOSS9', last_modified = '{stamp}' "
        "WHERE employee_id = 5",
    )
    _feed(acme, 5, stamp, 900001)
    _sync()
    assert _manager_warnings() == before | {"E000005"}
    assert employee_record("acme_payroll", "E000005")[1]["manager"] is None

    # The manager joins; employee 5 is not read again, yet its warning goes.
    stamp = "2030-01-02 00:00:00"
    execute(
        acme,
        "INSERT INTO employee (employee_id, employee_code, first_name, surname, "
        "date_hired, pay_frequency_code, tax_free_threshold, last_modified) "
        f"SELECT 9001, 'boss9 ', first_name, surname, date_hired, pay_frequency_code, "
        f"1, '{stamp}' FROM employee WHERE employee_id = 1",
    )
    _feed(acme, 9001, stamp, 900002)
    result = _sync()
    assert result.step("employees").count("added") == 1
    assert _manager_warnings() == before
    assert employee_record("acme_payroll", "E000005")[1]["manager"] == "boss9"

    # The manager leaves payroll: the report is warned again.
    stamp = "2030-01-03 00:00:00"
    execute(acme, "DELETE FROM employee WHERE employee_id = 9001")
    _feed(acme, 9001, stamp, 900003)
    _sync()
    assert _manager_warnings() == before | {"E000005"}
    assert employee_record("acme_payroll", "E000005")[1]["manager"] is None


def test_a_large_first_import_leaves_statistics_on_the_columns_queries_use(
    ess, payroll_sqlite, prefect_api
):
    if not ess.startswith("postgresql"):
        pytest.skip("planner statistics are PostgreSQL's")
    from ess.store.bulk import ANALYZE_STATISTICS_TARGET
    from ess.store.employees import IN_BATCH, PLANNED_COLUMNS

    _build(payroll_sqlite, employees=IN_BATCH + 200)
    register_database("acme_payroll", url=payroll_sqlite)
    _sync()
    with ess_engine().connect() as conn:
        analyzed = set(
            conn.execute(
                sa.text("SELECT attname FROM pg_stats WHERE tablename = 'employee'")
            ).scalars()
        )
        bounds = conn.execute(
            sa.text(
                "SELECT array_length(histogram_bounds::text::text[], 1) FROM pg_stats "
                "WHERE tablename = 'employee' AND attname = 'payroll_employee_id'"
            )
        ).scalar_one()
    # Autovacuum may analyze the rest later; these the sync's own queries need at once.
    assert set(PLANNED_COLUMNS) <= analyzed
    # From the sync's smaller sample: of 1,200 distinct ids PostgreSQL's default gives 101.
    assert bounds == ANALYZE_STATISTICS_TARGET + 1


def test_a_change_giving_an_employee_another_ones_code_is_rejected_and_names_both(acme):
    _sync()
    (keep_id, keep_code), (moved_id, _) = query_rows(
        acme, "SELECT employee_id, employee_code FROM employee ORDER BY employee_id LIMIT 2"
    )
    stamp = "2030-01-01 00:00:00"
    # The same code as payroll writes it elsewhere: other case, a trailing space.
    execute(
        acme,
        f"UPDATE employee SET employee_code = '{keep_code.lower()} ', last_modified = '{stamp}' "
        f"WHERE employee_id = {moved_id}",
    )
    execute(acme, f"INSERT INTO employee_changed VALUES (888888, {moved_id}, '{stamp}')")
    _sync()
    messages = [r.message for r in read_log("acme_payroll", limit=500)]
    assert any(
        f"is held by 2 payroll employees (ids {keep_id}, {moved_id})" in m for m in messages
    ), messages
    kept = _ess_employees()[keep_code.upper()]
    assert kept.payroll_employee_id == keep_id and kept.employee_code == keep_code


@pytest.mark.parametrize("codes", ["codes read at once", "codes read slowly"])
def test_a_full_read_keeps_employees_payroll_gave_new_ids_and_writes_every_update(
    acme, monkeypatch, codes
):
    # A pay review edits everyone, and payroll re-keys two employees: the first gets an id
    # after everyone's, the last the first's. Read in chunks of 7, the first is found by
    # code in the last chunk and the last in the first chunk; updates are written only when
    # the chunks are done (staged, and flushed more than once, on PostgreSQL), so neither
    # may look "gone" from the range its old id is in. On PostgreSQL the server compares a
    # block of two chunks at a time, looking for the gone in each block's id range: the
    # first is found in the last block, the last in the first.
    monkeypatch.setattr(employees_step, "CHUNK", 7)
    monkeypatch.setattr(ServerComparison, "BLOCK", 14)
    monkeypatch.setattr(bulk, "STAGE_UPDATES_FROM", 1)
    monkeypatch.setattr(bulk.StagedUpdates, "FLUSH_AT", 5)
    if codes == "codes read slowly":
        # Every chunk is read, prepared and looked up in ESS before the first is written
        # (on SQLite each chunk's updates are written as it is planned): what ESS held
        # for a chunk before an earlier one re-keyed an employee must not make it "gone".
        _read_codes_slowly(monkeypatch, waiting_chunks=1_000)
    [(first_id, first_code)] = query_rows(
        acme, "SELECT employee_id, employee_code FROM employee ORDER BY employee_id LIMIT 1"
    )
    [(last_id, last_code)] = query_rows(
        acme, "SELECT employee_id, employee_code FROM employee ORDER BY employee_id DESC LIMIT 1"
    )
    execute(acme, f"UPDATE employee SET termination_date = NULL WHERE employee_id = {first_id}")
    _sync()
    execute(
        acme, f"UPDATE employee SET employee_id = {last_id + 100} WHERE employee_id = {first_id}"
    )
    execute(acme, f"UPDATE employee SET employee_id = {first_id} WHERE employee_id = {last_id}")
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    # The one re-keyed to the end leaves too: a termination found by code, not in its range.
    execute(
        acme,
        f"UPDATE employee SET termination_date = '2030-06-30' WHERE employee_id = {last_id + 100}",
    )
    counts = _sync(full=True).step("employees")
    assert counts.count("terminated") == 1
    assert dict(counts.samples)["terminated"] == (first_code.strip(),)
    assert counts.count("updated") == len(query_rows(acme, "SELECT employee_id FROM employee")) - 1
    held = _ess_employees()
    assert held[first_code.strip().upper()]["payroll_employee_id"] == last_id + 100
    assert str(held[first_code.strip().upper()]["termination_date"]) == "2030-06-30"
    assert held[last_code.strip().upper()]["payroll_employee_id"] == first_id
    in_payroll = [r for r in held.values() if r["in_payroll"]]
    assert len(in_payroll) == len(query_rows(acme, "SELECT employee_id FROM employee"))
    assert {r["surname"] for r in in_payroll} == {"Reviewed"}
    assert "removed" not in _employees_row()


@pytest.fixture(params=["one block", "blocks of two chunks", "blocks as the server is free"])
def blocks(request, monkeypatch):
    """A read of everyone in one block, or read 3 employees a chunk and (on PostgreSQL)
    compared by the server 5 at a time, a block while the next is read, or as many as were
    read while it compared the block before (blocks that end where timing puts them)."""
    if request.param != "one block":
        monkeypatch.setattr(employees_step, "CHUNK", 3)
        monkeypatch.setattr(ServerComparison, "BLOCK", 5)
    if request.param == "blocks as the server is free":
        monkeypatch.setattr(ServerComparison, "BLOCK", 1_000)
        monkeypatch.setattr(ServerComparison, "SMALLEST", 2)
    return request.param


def test_a_full_read_keeps_employees_payroll_re_keyed_and_changed_nothing_else(acme, blocks):
    # Payroll gives two employees new ids and changes nothing else about them: neither
    # differs, so neither is written, and each is found by code in another block than the
    # one its old id falls in (the first's code at the end, the last's at the start). Neither
    # may look gone from payroll, while one deleted from payroll is, and one whose row ESS
    # cannot read stays as it was.
    _sync()
    ids = [r[0] for r in query_rows(acme, "SELECT employee_id FROM employee ORDER BY 1")]
    first_id, last_id = ids[0], ids[-1]
    code = {
        i: c.strip().upper()
        for i, c in query_rows(acme, "SELECT employee_id, employee_code FROM employee")
    }
    gone, broken = ids[len(ids) // 2], ids[len(ids) // 2 + 1]
    execute(
        acme, f"UPDATE employee SET employee_id = {last_id + 100} WHERE employee_id = {first_id}"
    )
    execute(acme, f"UPDATE employee SET employee_id = {first_id} WHERE employee_id = {last_id}")
    execute(acme, f"DELETE FROM employee WHERE employee_id = {gone}")
    execute(acme, f"UPDATE employee SET date_hired = '2023-02-30' WHERE employee_id = {broken}")

    counts = _sync(full=True).step("employees")
    assert {k: counts.count(k) for k in ("added", "updated", "removed", "rejected")} == {
        "added": 0,
        "updated": 0,
        "removed": 1,
        "rejected": 1,
    }
    held = _ess_employees()
    assert not held[code[gone]]["in_payroll"]
    assert held[code[first_id]]["in_payroll"] and held[code[last_id]]["in_payroll"]
    assert held[code[broken]]["in_payroll"]
    assert sum(r["in_payroll"] for r in held.values()) == len(ids) - 1
    assert _sync(full=True).step("employees").count("removed") == 0

    # A sync of changes: the feed names the old id (no longer in payroll) and the new one.
    moved = ids[2]
    stamp = "2030-01-01 00:00:00"
    execute(acme, f"UPDATE employee SET employee_id = {last_id + 200} WHERE employee_id = {moved}")
    _feed(acme, moved, stamp, 900001)
    _feed(acme, last_id + 200, stamp, 900002)
    counts = _sync().step("employees")
    assert (counts.count("removed"), counts.count("unchanged")) == (0, 1)
    assert _ess_employees()[code[moved]]["in_payroll"]


def _open_ids(payroll):
    """Payroll's employees with no termination date, by payroll id."""
    sql = "SELECT employee_id FROM employee WHERE termination_date IS NULL ORDER BY 1"
    return [r[0] for r in query_rows(payroll, sql)]


def test_a_full_read_writes_each_kind_of_change_once_and_keeps_what_it_cannot_read(acme, blocks):
    # On PostgreSQL a read of everyone is compared by ESS's server (ServerComparison), on
    # SQLite chunk by chunk in Python (plan_chunk): both must give the same counts and rows.
    # The server compares and writes a block of chunks while the next is read: counts,
    # first codes and the employees gone from payroll must not depend on where blocks end.
    _sync()
    ids = [r[0] for r in query_rows(acme, "SELECT employee_id FROM employee ORDER BY 1")]
    open_ids = _open_ids(acme)
    edited, ended, gone, broken, kept, returning, readded = [i for i in ids if i in open_ids][1:8]
    markup = '<b>O\'Neil & "Co"</b><script>x</script>'
    execute(
        acme, "UPDATE employee SET surname = :s WHERE employee_id = :i", {"s": markup, "i": edited}
    )
    execute(
        acme, f"UPDATE employee SET termination_date = '2030-06-30' WHERE employee_id = {ended}"
    )
    execute(acme, f"DELETE FROM employee WHERE employee_id = {gone}")
    execute(acme, f"UPDATE employee SET date_hired = '2023-02-30' WHERE employee_id = {broken}")
    with ess_engine().begin() as conn:
        of = [employee.c.payroll_database == "acme_payroll"]
        conn.execute(
            sa.update(employee)
            .where(*of, employee.c.payroll_employee_id == kept)
            .values(mobile="0499 999 999")
        )
        conn.execute(
            sa.update(employee)
            .where(*of, employee.c.payroll_employee_id == returning)
            .values(in_payroll=False)
        )
        conn.execute(sa.delete(employee).where(*of, employee.c.payroll_employee_id == readded))
    before = {k: dict(r) for k, r in _ess_employees().items()}

    preview = _sync(full=True, preview=True).step("employees")
    assert {k: dict(r) for k, r in _ess_employees().items()} == before
    counts = _sync(full=True).step("employees")
    expected = {"added": 1, "updated": 2, "terminated": 1, "rejected": 1, "removed": 1}
    assert {k: counts.count(k) for k in expected} == expected
    assert counts.count("unchanged") == len(ids) - 6
    assert preview.counts == counts.counts
    code = {
        i: c.strip() for i, c in query_rows(acme, "SELECT employee_id, employee_code FROM employee")
    }
    # Each kind's first codes, in payroll id order, for the preview to show.
    assert dict(preview.samples) == dict(counts.samples)
    assert dict(counts.samples)["updated"] == (code[edited], code[returning])
    assert dict(counts.samples)["terminated"] == (code[ended],)
    assert dict(counts.samples)["added"] == (code[readded],)

    after = {r["payroll_employee_id"]: r for r in _ess_employees().values()}
    assert after[edited]["surname"] == markup
    assert str(after[ended]["termination_date"]) == "2030-06-30"
    assert not after[gone]["in_payroll"]
    # A row payroll holds but ESS cannot read stays as it was, in payroll.
    assert after[broken]["in_payroll"] and str(after[broken]["date_hired"]) != "2023-02-30"
    assert after[kept]["mobile"] == "0499 999 999"
    assert after[returning]["in_payroll"] and after[readded]["in_payroll"]
    assert _sync(full=True).step("employees").count("unchanged") == len(ids) - 2


def test_a_full_read_gives_each_kinds_first_codes_in_payroll_order_across_blocks(acme, blocks):
    # A preview shows each kind's first codes in payroll id order. On PostgreSQL the server
    # counts each block, and asks for first codes only of the kinds the blocks before it left
    # short: a kind whose first codes fill in the first block (updated), one that fills
    # across several (terminated) and one that comes only in the last (added) must each
    # keep payroll's first codes, and every change must still be counted.
    _sync()
    code = {
        i: c.strip()
        for i, c in query_rows(acme, "SELECT employee_id, employee_code FROM employee ORDER BY 1")
    }
    ids = list(code)
    readded = ids[-3:]
    ended = [i for i in _open_ids(acme) if i not in readded][::3]
    assert len(ended) > SAMPLED
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    execute(
        acme,
        "UPDATE employee SET termination_date = '2030-06-30'"
        f" WHERE employee_id IN ({', '.join(map(str, ended))})",
    )
    with ess_engine().begin() as conn:
        conn.execute(
            sa.delete(employee).where(
                employee.c.payroll_database == "acme_payroll",
                employee.c.payroll_employee_id.in_(readded),
            )
        )
    updated = [i for i in ids if i not in ended and i not in readded]

    counts = _sync(full=True).step("employees")
    expected = {"added": len(readded), "terminated": len(ended), "updated": len(updated)}
    assert {k: counts.count(k) for k in expected} == expected
    assert dict(counts.samples) == {
        "updated": tuple(code[i] for i in updated[:SAMPLED]),
        "terminated": tuple(code[i] for i in ended[:SAMPLED]),
        "added": tuple(code[i] for i in readded),
    }


@pytest.mark.parametrize("block", [1_000, 7])
def test_a_full_read_failing_between_chunks_writes_nothing_and_says_why(acme, monkeypatch, block):
    # On PostgreSQL the chunks already read sit in the stage's open COPY when the next fails
    # (block 1,000), or a block has been compared and written by the server, on its own
    # thread, and the next is being read (block 7): either way the transaction rolls back
    # once the server is done, and the failure stays the one that happened.
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    before = {k: dict(r) for k, r in _ess_employees().items()}
    monkeypatch.setattr(employees_step, "CHUNK", 7)
    monkeypatch.setattr(ServerComparison, "BLOCK", block)
    real, calls = employees_step.prepare_rows, []

    def failing_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("payroll sent something unreadable")
        return real(*args, **kwargs)

    monkeypatch.setattr(employees_step, "prepare_rows", failing_on_the_third)
    reading, closed = employees_step._all_employees, []

    def watched(reader):
        try:
            yield from reading(reader)
        finally:
            closed.append(len(calls))

    monkeypatch.setattr(employees_step, "_all_employees", watched)
    state = sync_from_payroll(database="acme_payroll", full=True, return_state=True)
    assert state.is_failed()
    assert "payroll sent something unreadable" in read_log("acme_payroll")[-1].message
    assert {k: dict(r) for k, r in _ess_employees().items()} == before
    # Payroll's reading was closed by the step, with its connection still open: not left to
    # the garbage collector, which would close its cursor on a connection long gone.
    assert closed == [3]


# Only an ESS on PostgreSQL compares in its server.
@pytest.mark.parametrize(
    "ess", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("blocks", ["blocks as the server is free"], indirect=True)
def test_a_read_of_everyone_gives_the_server_a_block_as_soon_as_it_is_free(
    acme, blocks, monkeypatch
):
    # The server waits for no whole block while it has nothing to do: the first chunk read
    # (3 employees) is compared at once, and each block after it holds what was read while
    # the server compared the one before (at most BLOCK, 1,000). Every staged row is in
    # exactly one block.
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    payroll_ids = [i for (i,) in query_rows(acme, "SELECT employee_id FROM employee")]
    real, applied = ServerComparison._write_changes, []

    def counted(self, *args):
        staged = self._conn.exec_driver_sql(
            "SELECT payroll_employee_id FROM ess_staged_employee_read"
        ).all()
        applied.append(sorted(i for (i,) in staged))
        return real(self, *args)

    monkeypatch.setattr(ServerComparison, "_write_changes", counted)
    state = sync_from_payroll(database="acme_payroll", full=True, return_state=True)
    assert state.is_completed(), state.message
    assert len(applied[0]) == 3  # the first chunk, not a thousand rows
    # The blocks come in payroll id order and together hold everyone, once each.
    assert [i for block in applied for i in block] == sorted(payroll_ids)
    held = _ess_employees()
    assert {r["surname"] for r in held.values() if r["in_payroll"]} == {"Reviewed"}
    assert _employees_row().startswith(f"Imported employees: 0 added, {len(payroll_ids)} updated")


# Only an ESS on PostgreSQL compares in its server.
@pytest.mark.parametrize(
    "ess", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_block_the_server_fails_to_apply_fails_the_step_and_writes_nothing(acme, monkeypatch):
    # The server compares and writes a block on a thread of its own: its failure must reach
    # the step (not vanish with the thread), and nothing of the blocks before it may stay.
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    before = {k: dict(r) for k, r in _ess_employees().items()}
    monkeypatch.setattr(employees_step, "CHUNK", 7)
    monkeypatch.setattr(ServerComparison, "BLOCK", 7)
    real, calls = ServerComparison._write_changes, []

    def failing_on_the_third(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("ESS's server could not compare this block")
        return real(self, *args)

    monkeypatch.setattr(ServerComparison, "_write_changes", failing_on_the_third)
    state = sync_from_payroll(database="acme_payroll", full=True, return_state=True)
    assert state.is_failed() and len(calls) == 3
    # ESS's failure, not payroll's: the message does not send support to payroll's server.
    assert read_log("acme_payroll")[-1].message == (
        "Job Failed: Importing employees failed: ESS's server could not compare this block"
    )
    assert {k: dict(r) for k, r in _ess_employees().items()} == before


# Only an ESS on PostgreSQL compares in its server.
@pytest.mark.parametrize(
    "ess", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_an_employee_edited_in_ess_while_a_block_is_written_still_takes_payroll_values(
    acme, monkeypatch
):
    # A block's one statement updates the rows its join found, where the join found them.
    # An employee who edits their own details in ESS while it runs (an UPDATE of an
    # ESS-owned field, committed once the statement waits for their row) has moved their
    # row: the block's write must still reach them, and keep their edit.
    _sync()
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    first_id = query_rows(acme, "SELECT MIN(employee_id) FROM employee")[0][0]
    real, edits, waited = ServerComparison._write_changes, [], []

    def edited_meanwhile(self, *args):
        if edits:
            return real(self, *args)
        editor = ess_engine().connect()
        edit = editor.begin()
        edits.append(
            editor.execute(
                sa.update(employee)
                .where(
                    employee.c.payroll_database == "acme_payroll",
                    employee.c.payroll_employee_id == first_id,
                )
                .values(mobile="0400 000 001")
            ).rowcount
        )

        def commit_once_the_block_waits():
            with ess_engine().connect() as watching:
                for _ in range(3000):
                    if watching.scalar(sa.text(WAITING_FOR_A_ROW)):
                        waited.append(True)
                        break
                    time.sleep(0.01)
            edit.commit()
            editor.close()

        committer = threading.Thread(target=commit_once_the_block_waits)
        committer.start()
        try:
            return real(self, *args)
        finally:
            committer.join()

    monkeypatch.setattr(ServerComparison, "_write_changes", edited_meanwhile)
    counts = _sync(full=True).step("employees")
    assert edits == [1] and waited == [True]
    held = _ess_employees()
    assert counts.count("updated") + counts.count("terminated") == len(held)
    assert {r.surname for r in held.values()} == {"Reviewed"}
    edited = next(r for r in held.values() if r.payroll_employee_id == first_id)
    assert edited.mobile == "0400 000 001"
    assert _sync(full=True).step("employees").count("unchanged") == len(held)


WAITING_FOR_A_ROW = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
"""
"""How many other sessions of this ESS database wait for a lock (a row another holds)."""


@pytest.mark.parametrize("sync", ["first import", "read of everyone", "sync of changes"])
def test_chunks_read_while_the_duplicate_codes_are_read_wait_for_them_and_land_in_order(
    acme, monkeypatch, sync
):
    # Payroll's duplicate codes are read beside the first chunks, on a connection of their
    # own (tasks.employees._Duplicates). Read slowly here, so chunks of three wait for them,
    # two at a time: none may be planned without them, lost, or written out of order.
    early, late = [r[0] for r in query_rows(acme, "SELECT employee_id FROM employee ORDER BY 1")][
        1::55
    ]
    [(code,)] = query_rows(acme, f"SELECT employee_code FROM employee WHERE employee_id = {early}")
    if sync != "first import":
        _sync()
    # The same code to ESS (core.employees.code_key): payroll's with a leading space and in
    # lower case. Trimmed at its end only, it once failed the step on ESS's unique key.
    execute(
        acme, f"UPDATE employee SET employee_code = ' {code.lower()}' WHERE employee_id = {late}"
    )
    execute(acme, "UPDATE employee SET surname = 'Reviewed'")
    if sync == "sync of changes":
        stamp = datetime(2030, 1, 1)
        ids = [r[0] for r in query_rows(acme, "SELECT employee_id FROM employee")]
        values = ", ".join(f"({900_000 + n}, {i}, '{stamp}')" for n, i in enumerate(ids))
        execute(acme, f"INSERT INTO employee_changed VALUES {values}")
    monkeypatch.setattr(employees_step, "CHUNK", 3)
    _read_codes_slowly(monkeypatch, waiting_chunks=2)
    counts = _sync(full=sync == "read of everyone").step("employees")
    assert counts.count("rejected") == 2
    messages = [r.message for r in read_log("acme_payroll", limit=500)]
    [rejected] = [m for m in messages if m.startswith(f"Rejected employee {code}")]
    assert str(early) in rejected and str(late) in rejected
    held = _ess_employees()
    in_payroll = {r["payroll_employee_id"] for r in held.values() if r["in_payroll"]}
    every = {r[0] for r in query_rows(acme, "SELECT employee_id FROM employee")}
    if sync == "first import":
        assert in_payroll == every - {early, late}
    else:
        # Both held back: each stays in ESS as the sync before left it, in payroll.
        assert in_payroll == every
        both = [r for r in held.values() if r["payroll_employee_id"] in (early, late)]
        assert len(both) == 2 and "Reviewed" not in {r["surname"] for r in both}
    others = {r["surname"] for r in held.values() if r["payroll_employee_id"] not in (early, late)}
    assert others == {"Reviewed"}


def _read_codes_slowly(monkeypatch, waiting_chunks):
    """Payroll's duplicate codes take a second to read; up to `waiting_chunks` chunks, read
    and prepared, wait for them (tasks.employees._Duplicates)."""
    read_codes = employees_step._duplicate_codes

    def slowly(*args):
        time.sleep(1.0)
        return read_codes(*args)

    monkeypatch.setattr(employees_step, "_duplicate_codes", slowly)
    monkeypatch.setattr(employees_step._Duplicates, "WAITING_CHUNKS", waiting_chunks)


def test_a_sync_of_changes_asks_for_duplicate_codes_first_and_a_sync_of_none_reads_no_lookup(
    acme, monkeypatch
):
    # Payroll's duplicate codes are the step's longest query: asked for before ESS's lookup
    # codes are read, they are read meanwhile. A sync the feed names no one needs neither.
    _sync()
    read_codes, read_lookups = employees_step._duplicate_codes, employees_step.store.lookup_codes
    asked = threading.Event()
    calls: list[tuple[str, bool]] = []

    def codes(*args):
        calls.append(("duplicate codes", True))
        asked.set()
        return read_codes(*args)

    def lookups(*args):
        # Already asked for, on their own connection: the lookups need not wait to see it.
        calls.append(("lookup codes", asked.wait(timeout=30)))
        return read_lookups(*args)

    monkeypatch.setattr(employees_step, "_duplicate_codes", codes)
    monkeypatch.setattr(employees_step.store, "lookup_codes", lookups)
    _sync()
    assert calls == []
    assert _employees_row().startswith("Imported employees: 0 added, 0 updated, 0 terminated,")

    change_employees(sa.create_engine(acme), 0.1, seed=4, at=datetime(2025, 7, 11))
    counts = _sync().step("employees")
    assert counts.count("updated") + counts.count("terminated") == 6
    assert sorted(calls) == [("duplicate codes", True), ("lookup codes", True)]
