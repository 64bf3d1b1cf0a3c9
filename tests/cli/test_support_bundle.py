"""`ess-sync support-bundle`: one zip with a job's log, history, rejects, versions, config."""

import json
import os
import subprocess
import sys
import uuid
import zipfile

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from cli.support import support_bundle
from core.bundle import LOG_WINDOW_NOTE, MEMBERS, connection_secrets, parse_run, scrub_member
from ess.database import ess_engine
from ess.schema import sync_job
from ess.store.jobs import COMPLETED, FAILED, finish_job, refused, take_job
from ess.store.log import ERROR, write_log
from ess.store.registry import register_database
from flows.sync_from_payroll import sync_from_payroll
from generator import add_hard_cases, build_payroll
from jobs.kinds import SYNC_FROM_PAYROLL
from tests.support import secrets_in

PAYROLL_PASSWORD = "S3cret-pw-payroll"
ESS_PASSWORD = "S3cret-pw-ess"
VAULT_URL = f"postgresql+psycopg://payroll:{PAYROLL_PASSWORD}@127.0.0.1:5432/vault_payroll"

# A group, so the command is invoked by its name as `ess-sync` will register it.
app = typer.Typer()
app.callback()(lambda: None)
app.command("support-bundle")(support_bundle)
runner = CliRunner()

# Registering it in a child process, as `cli/main.py` will, once ess-sync has the command.
APP_SOURCE = (
    "import typer; from cli.support import support_bundle; app = typer.Typer(); "
    "app.callback()(lambda: None); app.command('support-bundle')(support_bundle)"
)


@pytest.fixture
def ess_password(ess, monkeypatch):
    """A password in ESS_DATABASE_URL where the URL can hold one (PostgreSQL), or None."""
    url = sa.make_url(ess)
    if url.get_backend_name() != "postgresql":
        return None
    if url.password is None:  # the test server trusts local connections: any password does
        url = url.set(password=ESS_PASSWORD)
        monkeypatch.setenv("ESS_DATABASE_URL", url.render_as_string(hide_password=False))
    return str(url.password)


@pytest.fixture
def vault(ess_password, prefect_api):
    """A payroll database registered with a password in its URL (never connected to)."""
    register_database("vault_payroll", url=VAULT_URL)
    return "vault_payroll"


@pytest.fixture
def acme(ess_password, payroll_sqlite, prefect_api):
    """A generated payroll with hard cases, registered as acme_payroll; its URL."""
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=60, leave_types_per_employee=2)
    add_hard_cases(engine)
    engine.dispose()
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _sync(database="acme_payroll"):
    state = sync_from_payroll(database=database, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def _counts(summary, step):
    """One step's counts in a job's summary (the job's JobResult as JSON)."""
    return next(s["counts"] for s in summary["steps"] if s["name"] == step)


def _bundle(tmp_path, *args, name="bundle.zip"):
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the flow's Prefect logs reach the server in the background
    path = tmp_path / name
    result = runner.invoke(app, ["support-bundle", *args, "-o", str(path)], catch_exceptions=False)
    return result, path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _json(members, name):
    return json.loads(members[name].decode())


def _payroll_secrets(url):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT tax_file_number, bank_account_number FROM employee"))
        found = {value for row in rows for value in row if value}
    engine.dispose()
    return found


def test_a_bundle_holds_the_jobs_log_history_rejects_prefect_run_versions_and_config(
    acme, ess_password, tmp_path
):
    import prefect

    _sync()
    latest = _sync()
    result, path = _bundle(tmp_path, "acme_payroll")
    assert result.exit_code == 0, result.output
    assert "Wrote the support bundle to" in result.output
    assert path.name in result.output
    members = _members(path)
    assert set(members) == set(MEMBERS)
    readme = members["README.txt"].decode()
    assert all(name in readme for name in MEMBERS)

    job = _json(members, "job.json")["job"]
    assert (job["id"], job["status"]) == (latest.job_id, "completed")
    # The second sync reads only changes the first did not: nobody, so it rejects nobody.
    assert _counts(job["summary"], "employees")["rejected"] == 0
    log_txt = members["log.txt"].decode()
    assert log_txt.count("Job Started.") == 1
    assert "Job Completed." in log_txt
    assert {row["job_id"] for row in _json(members, "log.json")} == {job["id"]}

    history = _json(members, "jobs.json")
    assert [j["id"] for j in history] == [latest.job_id, latest.job_id - 1]
    assert all(j["status"] == "completed" and j["started_at"] for j in history)
    assert _counts(history[0]["summary"], "country")["unchanged"] > 0
    assert _counts(history[1]["summary"], "employees")["rejected"] >= 1

    outcomes = {i["outcome"] for i in _json(members, "rejects.json")}
    assert outcomes == {"rejected", "warning"}
    assert _json(members, "database.json")["name"] == "acme_payroll"

    flow = _json(members, "prefect.json")
    assert flow["flow_run"]["id"] == job["flow_run_id"]
    assert "COMPLETED" in {s["type"] for s in flow["states"]}
    assert "Finished in state Completed()" in {log["message"] for log in flow["logs"]}

    versions = _json(members, "versions.json")
    assert versions["prefect"] == prefect.__version__
    assert {"ess-payroll-sync", "python", "sqlalchemy", "pandas", "pyodbc"} <= set(versions)
    assert versions["ess_schema_revision"] == versions["ess_schema_head_revision"] is not None

    config = _json(members, "config.json")
    assert config["prefect"]["server_configured"] is True
    if ess_password:
        assert config["ess"]["ESS_DATABASE_URL"].startswith("postgresql+psycopg://postgres:***@")


def test_no_tfn_bank_account_or_password_is_in_any_member(acme, vault, ess_password, tmp_path):
    _sync()
    # A driver error that quotes its connection string: the safety net must catch it.
    job = take_job(vault, SYNC_FROM_PAYROLL.name)
    write_log(vault, f"could not connect to {VAULT_URL}", job_id=job.id, level=ERROR)
    finish_job(job, FAILED, f"Job Failed: {VAULT_URL} refused", level=ERROR)
    secrets = _payroll_secrets(acme)
    assert len(secrets) > 100
    passwords = {PAYROLL_PASSWORD} | ({ess_password} if ess_password else set())

    outputs = []
    for database in ("acme_payroll", vault):
        result, path = _bundle(tmp_path, database, name=f"{database}.zip")
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
        members = _members(path)
        for name, content in members.items():
            text = content.decode()
            if name.endswith(".json"):
                json.loads(text)  # scrubbing left every JSON member readable
            leaked = secrets_in(text, secrets | passwords)
            assert leaked == [], f"{database}: {name} holds a secret"
    assert not any(p in "".join(outputs) for p in passwords)
    assert "could not connect to ***" in members["log.txt"].decode()
    registered = _json(members, "database.json")
    assert registered["connection_display"].startswith("postgresql+psycopg://payroll:***@")
    assert _json(members, "job.json")["job"]["message"] == "Job Failed: *** refused"


def test_a_job_is_chosen_by_its_flow_run_id_or_its_job_id(acme, tmp_path):
    first = _sync()
    _sync()
    with ess_engine().connect() as conn:
        flow_run_id = conn.execute(
            sa.select(sync_job.c.flow_run_id).where(sync_job.c.id == first.job_id)
        ).scalar_one()
    for run in (flow_run_id, str(first.job_id)):
        result, path = _bundle(tmp_path, "acme_payroll", "--run", run, name=f"{run}.zip")
        assert result.exit_code == 0, result.output
        members = _members(path)
        assert _json(members, "job.json")["job"]["id"] == first.job_id
        assert members["log.txt"].decode().count("Job Started.") == 1
        assert _json(members, "prefect.json")["flow_run"]["id"] == flow_run_id


def test_a_refusal_in_the_jobs_time_window_is_in_its_log(vault, tmp_path):
    job = take_job(vault, SYNC_FROM_PAYROLL.name)
    refused(vault, job)
    finish_job(job, COMPLETED, "Job Completed.")
    result, path = _bundle(tmp_path, vault, "--run", str(job.id))
    assert result.exit_code == 0, result.output
    log_txt = _members(path)["log.txt"].decode()
    assert "Job Not Started: a sync of vault_payroll is already running" in log_txt
    assert LOG_WINDOW_NOTE in log_txt
    assert "This job has no Prefect flow run" in result.output


@pytest.mark.parametrize(
    "run", ["999", "99999999999999999999", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "last-week"]
)
def test_an_unknown_run_id_exits_2_and_writes_nothing(vault, tmp_path, run):
    result, path = _bundle(tmp_path, vault, "--run", run)
    assert result.exit_code == 2
    assert any(why in result.output for why in ("No job of vault_payroll", "neither", "no job"))
    assert not path.exists()
    assert list(tmp_path.glob(".bundle-*")) == []


def test_an_unknown_database_exits_2_naming_the_registered_ones(vault, tmp_path):
    result, path = _bundle(tmp_path, "nowhere")
    assert result.exit_code == 2
    assert "No payroll database is registered as 'nowhere'" in result.output
    assert "vault_payroll" in result.output
    assert not path.exists()


# On PostgreSQL only, where ESS's own URL holds a password too: the bundle's temporary
# Prefect server (to read the block) takes 15-30 s, and the ESS engine changes nothing here.
@pytest.mark.parametrize(
    "ess", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_without_a_prefect_server_the_bundle_says_so_and_never_loads_prefect(vault, tmp_path):
    job = take_job(vault, SYNC_FROM_PAYROLL.name)
    finish_job(job, COMPLETED, "Job Completed.")
    path = tmp_path / "bundle.zip"
    probe = (
        f"import sys; {APP_SOURCE}; from typer.testing import CliRunner; "
        f"r = CliRunner().invoke(app, ['support-bundle', '{vault}', '-o', '{path}']); "
        "assert r.exit_code == 0, r.output; print('prefect' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile names a server
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
    members = _members(path)
    assert "No Prefect server is configured" in _json(members, "prefect.json")["note"]
    assert _json(members, "config.json")["prefect"]["server_configured"] is False
    assert PAYROLL_PASSWORD not in b"".join(members.values()).decode()


def test_the_secrets_of_odbc_strings_and_urls_are_found_for_the_safety_net():
    odbc = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01;UID=ess;PWD={p;w}}d};Encrypt=yes"
    assert connection_secrets("odbc", odbc) == [odbc, "p;w}d"]
    url = "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7Bx%7D%3BPWD%3Dpa%2Fss"
    assert {url, "pa/ss"} <= set(connection_secrets("url", url))
    assert connection_secrets("url", "postgresql://u:p%40ss@h/db")[1:] == ["p%40ss", "p@ss"]
    assert connection_secrets("url", "sqlite:////srv/payroll.db") == []


def test_a_member_is_scrubbed_of_known_secrets_as_json_writes_them_and_of_tfns():
    secret = 'pa"ss\\word'
    text = json.dumps({"message": f"login {secret} failed", "tfn": "TFN 123456782."})
    scrubbed = scrub_member(text, [secret])
    assert json.loads(scrubbed) == {"message": "login *** failed", "tfn": "TFN ***."}
    kept = "E123456782 0.123456782 123456782-aa 123456789 2025-01-01T00:00:00.123456"
    assert scrub_member(kept, []) == kept


def test_a_run_is_a_job_id_or_a_flow_run_id():
    run = uuid.uuid4()
    assert parse_run(" 42 ") == 42
    assert parse_run(str(run).upper()) == str(run)
    for bad in ("last-week", "4.2", "-1", str(2**31)):
        with pytest.raises(ValueError):
            parse_run(bad)
