"""No payroll password leaves in clear, whatever its characters (issue 13, Hypothesis).

Each example registers a payroll database whose password is drawn from any printable
characters, runs a job that fails on it, and looks for the password in everything a person
reads: `databases list` (and `--json`), `status --json`, the page's /api/status rows, the
failed run's output and Web API Log, and every member of the support bundle.
"""

import json
import string
import zipfile
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cli.main import app
from ess.store.history import database_rows
from ess.store.log import read_log
from support.bundle import write_bundle

runner = CliRunner()
# A marker makes each password distinctive: a one-letter password such as "a" appears in any
# output by chance, which would prove nothing. The marker is what the test looks for.
MARKER = "Qz9vW"
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from(string.printable)
passwords = st.text(PRINTABLE, min_size=1, max_size=16).map(lambda s: MARKER + s + MARKER)


def _connections(password):
    """The ways a user would write this password: URL percent-encoded, raw, ODBC braced."""
    yield "url", f"postgresql+psycopg://u:{quote(password, safe='')}@127.0.0.1:1/payroll"
    raw = f"postgresql+psycopg://u:{password}@127.0.0.1:1/payroll"
    try:
        if make_url(raw).password == password:
            yield "url", raw
    except Exception:
        pass
    braced = "{" + password.replace("}", "}}") + "}"
    yield "odbc", f"DRIVER={{No Such Driver}};SERVER=127.0.0.1;UID=u;PWD={braced}"


def _read_all(database, tmp_path):
    seen = []
    for args in (["databases", "list"], ["databases", "list", "--json"], ["status", "--json"]):
        result = runner.invoke(app, args, catch_exceptions=False, env={"COLUMNS": "400"})
        seen.append(result.output)
    seen.append(json.dumps(database_rows(), default=str))
    seen += [row.message for row in read_log(database, limit=500)]
    bundle = tmp_path / f"{database}.zip"
    write_bundle(database, bundle)
    with zipfile.ZipFile(bundle) as archive:
        seen += [archive.read(name).decode() for name in archive.namelist()]
    return seen


@pytest.fixture
def no_retries(monkeypatch):
    """A refused connection fails the job at once (it is transient: retried by default)."""
    monkeypatch.setenv("ESS_RETRIES", "0")


@pytest.mark.usefixtures("prefect_api", "no_retries")
# End to end, a few examples per ESS engine (each is jobs and bundles, about 8 s): the
# redaction itself gets hundreds in tests/core/test_redact.py; this proves every place a
# person looks uses it. The explicit example: every ASCII punctuation mark, a space, Unicode.
@example(password=MARKER + string.punctuation + " é€😀" + MARKER)
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(password=passwords)
def test_a_password_of_any_characters_never_leaves_in_clear(ess, password, tmp_path):
    for n, (kind, connection) in enumerate(_connections(password)):
        database = f"leak_{n}"
        option = "--url" if kind == "url" else "--odbc"
        added = runner.invoke(app, ["databases", "add", database, option, connection])
        assert added.exit_code == 0, added.output
        run = runner.invoke(app, ["run", database], env={"COLUMNS": "400"})
        assert run.exit_code == 1, run.output  # nothing listens on port 1, no such driver
        for text in [run.output, *_read_all(database, tmp_path)]:
            assert MARKER not in text, (kind, connection, text)
        runner.invoke(app, ["databases", "remove", database, "--yes"])
