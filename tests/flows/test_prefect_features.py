"""What Prefect shows for a job: artifacts, a confirm pause, crashed runs, unknown databases."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from prefect.input.actions import read_flow_run_input
from prefect.input.run_input import keyset_from_paused_state
from prefect.states import Running

from blocks.payroll_database import PayrollDatabase
from ess.database import ess_engine
from ess.schema import employee, payroll_database, sync_job, web_api_log
from ess.store.jobs import take_job
from ess.store.log import read_log
from ess.store.registry import register_database
from flows.sync_from_payroll import sync_from_payroll
from flows.sync_leave_balances import sync_leave_balances
from generator import build_payroll
from jobs.kinds import SYNC_FROM_PAYROLL
from tests.support import execute, markdown_shown


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=40, leave_types_per_employee=1)
    engine.dispose()
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def latest_artifact(key, flow_run_id=None):
    """The newest artifact with this key, of one flow run if given (client closed after)."""
    wanted = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
    if flow_run_id is not None:
        wanted.flow_run_id = ArtifactFilterFlowRunId(any_=[flow_run_id])
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=wanted, sort="CREATED_DESC", limit=1)
    return found[0] if found else None


def _employees():
    with ess_engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(employee)).scalar_one()


def test_a_job_publishes_its_summary_its_log_and_a_finished_progress_bar(acme):
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_completed()
    run = state.state_details.flow_run_id
    summary = latest_artifact("sync-from-payroll-summary-acme-payroll", run)
    assert summary is not None and summary.type == "markdown"
    shown = markdown_shown(summary.data)
    assert "Result: Job Completed." in shown
    assert any(line.startswith("employees | 40") for line in shown), shown
    assert "Nothing was held back." in shown
    table = latest_artifact("sync-from-payroll-log-acme-payroll", run)
    assert table is not None and "Job Completed." in str(table.data)
    progress = latest_artifact("sync-from-payroll-progress-acme-payroll", run)
    assert progress is not None and float(progress.data) == 100.0


def test_payroll_values_that_look_like_markup_read_as_written_in_the_summary(acme):
    # A location code longer than ESS's (the employee is held back) and a manager code no
    # employee holds (a warning): each row quotes the value, and the summary lists them.
    location = "[pay](http://x.example) <b>b</b>"
    manager = "| **M** |"
    execute(acme, "UPDATE employee SET location_code = :v WHERE employee_id = 1", {"v": location})
    execute(acme, "UPDATE employee SET manager_code = :v WHERE employee_id = 2", {"v": manager})
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_completed(), state.message
    summary = latest_artifact("sync-from-payroll-summary-acme-payroll")
    assert summary is not None
    shown = markdown_shown(summary.data)  # raises on a link, an image or raw HTML
    problems = {r.message for r in read_log("acme_payroll") if r.level in ("warning", "error")}
    quoting = {m for m in problems if repr(location) in m or repr(manager) in m}
    assert len(quoting) == 2, problems
    # Each as the Web API Log has it, a list item of its own.
    assert quoting <= set(shown), shown


def test_a_job_that_fails_publishes_how_far_its_progress_bar_got(acme):
    # Cache, lookups and pay frequency done; the employees step fails: 3 of 4 steps.
    execute(acme, "ALTER TABLE employee RENAME TO employee_gone")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_failed()
    run = state.state_details.flow_run_id
    progress = latest_artifact("sync-from-payroll-progress-acme-payroll", run)
    assert progress is not None and float(progress.data) == 75.0
    summary = latest_artifact("sync-from-payroll-summary-acme-payroll", run)
    assert summary is not None
    assert any("Importing employees failed" in line for line in markdown_shown(summary.data))


def _paused_runs():
    paused = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(state=paused), limit=10)


def _answer_when_paused(answer, result):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        paused = _paused_runs()
        if paused:
            keyset = keyset_from_paused_state(paused[0].state)
            description = read_flow_run_input(keyset["description"], paused[0].id)
            # Prefect saves the question's schema and description just after the run is
            # Paused: a person sees the form once they are there, and answers then.
            if description is not None:
                result["description"] = description
                resume_flow_run(paused[0].id, run_input={"answer": answer})
                result["answered"] = True
                return
        time.sleep(0.3)


# On SQLite ESS only: pausing and resuming are Prefect's (about 11 s a case), and the
# preview and the apply run on both engines in tests/flows/test_employees.py.
@pytest.mark.parametrize("ess", ["sqlite"], indirect=True)
@pytest.mark.parametrize("answer", ["Yes, sync changes", "No, do not sync"])
def test_a_confirmed_run_previews_pauses_and_applies_only_on_yes(acme, answer, monkeypatch):
    monkeypatch.setenv("ESS_CONFIRM_TIMEOUT_SECONDS", "90")
    result = {}
    responder = threading.Thread(target=_answer_when_paused, args=(answer, result))
    responder.start()
    state = sync_from_payroll(database="acme_payroll", confirm=True, return_state=True)
    responder.join(timeout=90)
    assert result.get("answered")
    preview = latest_artifact("sync-from-payroll-preview-acme-payroll")
    assert preview is not None
    assert any("40 added" in line for line in markdown_shown(preview.data))
    # The question shows the preview where it is answered.
    assert result["description"] == preview.data
    if answer.startswith("Yes"):
        assert state.is_completed()
        assert _employees() == 40
    else:
        assert state.is_cancelled()
        assert _employees() == 0
        messages = [r.message for r in read_log("acme_payroll")]
        assert messages[-1] == "Sync cancelled: nothing was changed."
        assert "Job Started." not in messages


def test_the_prefect_run_of_an_abandoned_job_is_marked_crashed(acme):
    @flow(name="stand-in-for-a-dead-sync")
    def dead() -> None:
        """Only here to own a flow run."""

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(dead)
        client.set_flow_run_state(run.id, Running(), force=True)
    job = take_job("acme_payroll", SYNC_FROM_PAYROLL.name, flow_run_id=str(run.id))
    with ess_engine().begin() as conn:
        conn.execute(
            sa.update(sync_job)
            .where(sync_job.c.id == job.id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.is_crashed()


def _ess_rows():
    with ess_engine().connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (payroll_database, employee, sync_job, web_api_log)
        }


@pytest.mark.parametrize("flow_function", [sync_from_payroll, sync_leave_balances])
def test_a_run_for_a_misspelled_database_fails_in_one_sentence_and_changes_nothing(
    acme, flow_function
):
    # A block made in the Prefect UI for the typo is no registration either.
    PayrollDatabase(
        database_name="demo-payroll", connection_kind="url", connection_string=acme
    ).save("payroll-demo-payroll", overwrite=True)
    before = _ess_rows()
    state = flow_function(database="demo-payroll", return_state=True)
    assert state.is_failed()
    assert state.message == (
        "Unknown payroll database 'demo-payroll': the registered ones are acme_payroll. "
        "Register it with ess-sync databases add."
    )
    assert _ess_rows() == before
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    assert not any("Traceback" in entry.message for entry in logs)


def test_a_sync_run_is_named_and_tagged_for_its_database(acme):
    from flows.runs import RUN_DATE_ZONE

    state = sync_from_payroll(database="acme_payroll", return_state=True)
    leave = sync_leave_balances(database="acme_payroll", return_state=True)
    today = datetime.now(RUN_DATE_ZONE).strftime("%Y-%m-%d")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        leave_run = client.read_flow_run(leave.state_details.flow_run_id)
        tagged = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["database:acme_payroll"]))
        )
    assert run.name == f"sync acme_payroll {today}"
    assert leave_run.name == f"leave acme_payroll {today}"
    assert "database:acme_payroll" in run.tags and "database:acme_payroll" in leave_run.tags
    assert {run.id, leave_run.id} <= {r.id for r in tagged}


def test_flow_runs_end_without_waiting_for_the_heartbeat_thread():
    import inspect

    from prefect import flow_engine

    from orchestration import prefect_compat

    # Prefect still has the hook we replace, with the switch we turn off.
    original = prefect_compat._original_send_heartbeats
    assert original is not None
    assert "join_on_exit" in inspect.signature(original).parameters
    assert prefect_compat.INSTALLED
    assert flow_engine._send_heartbeats is prefect_compat._send_heartbeats_without_waiting


def test_a_flow_runs_plain_parameters_are_stored_as_prefects_own_serialiser_stores_them():
    from decimal import Decimal
    from pathlib import Path

    from fastapi.encoders import jsonable_encoder
    from prefect.flows import Flow

    from orchestration import prefect_compat

    assert prefect_compat.INSTALLED
    assert Flow.serialize_parameters is prefect_compat._serialize_plain_parameters
    plain = {"database": "acme_payroll", "full": True, "job_id": 7, "share": 0.5, "none": None}
    assert sync_from_payroll.serialize_parameters(plain) == jsonable_encoder(plain)
    # Anything else still goes through Prefect's serialiser (FastAPI's encoder).
    other = {"database": "acme_payroll", "when": datetime(2025, 7, 1), "path": Path("/x")}
    other["amount"] = Decimal("1.50")
    assert sync_from_payroll.serialize_parameters(other) == {
        key: jsonable_encoder(value) for key, value in other.items()
    }


def _tls_context(client):
    return client._client._transport._pool._ssl_context  # httpx's connection pool's


def test_prefect_clients_share_one_verifying_tls_context_and_never_a_loosened_one(tmp_path):
    """Every Prefect client built a TLS context from certifi's bundle (12-17 ms a flow run);
    the clients a thread makes share one per CA file now. Verification stays on for them, a
    client told to skip it gets a loosened context of its own, and a CA file that changes is
    read again."""
    import shutil
    import ssl

    import certifi
    from prefect.client.orchestration import PrefectClient, SyncPrefectClient
    from prefect.settings import (
        PREFECT_API_SSL_CERT_FILE,
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        temporary_settings,
    )

    from orchestration import prefect_compat

    def client():
        return SyncPrefectClient("https://prefect.example.com/api")

    assert prefect_compat.INSTALLED
    first, second = _tls_context(client()), _tls_context(client())
    assert first is second
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    # An async client made on the same thread is given the same; one made on another thread
    # (Prefect's log shipper's, its event worker's) or asking for HTTP/2 gets one of its own.
    assert _tls_context(PrefectClient("https://prefect.example.com/api")) is first
    elsewhere = []
    other = threading.Thread(target=lambda: elsewhere.append(_tls_context(client())))
    other.start()
    other.join()
    assert elsewhere[0] is not first and elsewhere[0].verify_mode == ssl.CERT_REQUIRED
    http2 = SyncPrefectClient("https://prefect.example.com/api", httpx_settings={"http2": True})
    assert _tls_context(http2) is not first
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        loose = _tls_context(client())
    assert loose is not first and loose.verify_mode == ssl.CERT_NONE
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname  # not loosened
    assert _tls_context(client()) is first

    own = tmp_path / "ca.pem"
    shutil.copyfile(certifi.where(), own)
    with temporary_settings({PREFECT_API_SSL_CERT_FILE: str(own)}):
        mine = _tls_context(client())
        assert mine is not first and _tls_context(client()) is mine
        own.write_text(own.read_text() + "\n")  # the bundle is replaced: read again
        assert _tls_context(client()) is not mine
        changed = _tls_context(client())
        replaced = tmp_path / "new.pem"  # the same size and time, another file
        shutil.copy2(own, replaced)
        replaced.replace(own)
        assert _tls_context(client()) is not changed


def test_a_plain_http_prefect_client_gets_a_context_that_trusts_no_one(prefect_api):
    """A client of a plain-HTTP API opens no TLS, and a job's block load made one on a thread
    of its own every sync, reading certifi's bundle each time: it is given a context that
    still verifies but trusts no certificate authority (should anything open TLS with it,
    nothing verifies), one per thread. The client still talks to a real server; an HTTPS
    client, and one told to skip verification, are as before."""
    import ssl

    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.settings import (
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        get_current_settings,
        temporary_settings,
    )

    from orchestration import prefect_compat

    api_url = str(get_current_settings().api.url)
    assert api_url.startswith("http://")
    plain = _tls_context(SyncPrefectClient(api_url))
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    assert plain.get_ca_certs() == [] and plain.cert_store_stats()["x509_ca"] == 0
    assert _tls_context(SyncPrefectClient(api_url.upper().replace("HTTP://", "Http://"))) is plain
    with get_client(sync_client=True) as client:
        assert _tls_context(client) is plain
        assert client.hello().status_code == 200  # the real server answers through it

    elsewhere = []
    other = threading.Thread(
        target=lambda: elsewhere.append(_tls_context(SyncPrefectClient(api_url)))
    )
    other.start()
    other.join()
    assert elsewhere[0] is not plain and elsewhere[0].get_ca_certs() == []

    https = _tls_context(SyncPrefectClient("https://prefect.example.com/api"))
    assert https is prefect_compat.shared_verify(None) and https.cert_store_stats()["x509_ca"] > 0
    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        loose = _tls_context(SyncPrefectClient(api_url))
    assert loose is not plain and loose.verify_mode == ssl.CERT_NONE
    assert plain.verify_mode == ssl.CERT_REQUIRED  # not loosened
    own = ssl.create_default_context()
    given = SyncPrefectClient(api_url, httpx_settings={"verify": own})
    assert _tls_context(given) is own


def test_a_prefect_client_given_its_own_tls_settings_keeps_them_to_itself():
    """httpx loads a client certificate (`cert`) into the client's context: such a client,
    and one given its own `verify`, never gets (or changes) the shared one."""
    import ssl

    from prefect.client.orchestration import SyncPrefectClient

    from orchestration import prefect_compat

    shared = prefect_compat.shared_verify(None)
    assert shared is not None and prefect_compat.shared_verify({"timeout": 3}) is shared
    assert prefect_compat.shared_verify({"cert": ("client.pem", "client.key")}) is None
    own = ssl.create_default_context()
    assert prefect_compat.shared_verify({"verify": own}) is None
    given = SyncPrefectClient("https://prefect.example.com/api", httpx_settings={"verify": own})
    assert _tls_context(given) is own


def test_a_flow_run_still_sends_heartbeats_and_leaves_no_thread_sending(prefect_api, monkeypatch):
    from prefect import flow_engine

    sent = []
    monkeypatch.setattr(
        flow_engine.FlowRunEngine, "_emit_flow_run_heartbeat", lambda self, *a: sent.append(1)
    )

    def senders():
        loops = [(getattr(t, "_args", ()) or (None,))[0] for t in threading.enumerate()]
        return [f for f in loops if getattr(f, "__name__", "") == "heartbeat_loop"]

    @flow(name="heartbeat-probe")
    def probe():
        time.sleep(0.2)
        assert len(senders()) == 1
        return len(sent)

    def ended():
        deadline = time.monotonic() + 3
        while senders() and time.monotonic() < deadline:
            time.sleep(0.1)  # a thread sees the stop at its next one-second step and ends
        return not senders()

    assert ended()  # an earlier test's run may have ended within the last second
    assert probe() >= 1  # the first heartbeat goes out as the run starts
    assert ended()
    assert len(sent) == 1


def test_a_sync_never_asks_the_server_for_a_result_storage_it_does_not_use(acme, monkeypatch):
    """Each flow keeps its result in memory and names local storage: Prefect otherwise asks
    the server for its default result storage three times a run, for nothing."""
    import prefect.results

    asked = []
    monkeypatch.setattr(
        prefect.results,
        "_read_server_default_result_storage_block_id",
        lambda: asked.append("asked"),
    )
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_completed() and state.result().status == "completed"
    state = sync_leave_balances(database="acme_payroll", return_state=True)
    assert state.is_completed() and state.result().status == "completed"
    assert asked == []
