"""The page over plain HTTP: login, CSRF, bad input and secrets, against the running server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import PASSWORD, SECRET, A, B, Page
from web.launcher import deployment_names
from web.settings import UiNotConfigured, UiSettings


def test_every_page_and_action_needs_a_login(served: Page, client: httpx.Client) -> None:
    page = client.get(f"{served.url}/settings/general")
    assert page.status_code == 302 and page.headers["location"] == "/login"
    for method, path in [
        ("GET", "/api/status"),
        ("GET", "/api/log"),
        ("GET", "/api/jobs"),
        ("POST", f"/api/databases/{A}/preview"),
        ("POST", f"/api/databases/{A}/jobs"),
    ]:
        answer = client.request(method, f"{served.url}{path}", json={})
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "Log in first."}
    client.cookies.set("ess_ui_session", "forged.9999999999.0000")
    assert client.get(f"{served.url}/api/status").status_code == 401


def test_a_wrong_password_is_refused_and_the_cookie_is_strict(
    served: Page, client: httpx.Client
) -> None:
    wrong = client.post(f"{served.url}/login", data={"password": "guess"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.text
    assert "set-cookie" not in wrong.headers
    right = client.post(f"{served.url}/login", data={"password": PASSWORD})
    assert right.status_code == 303
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "script-src 'self'" in right.headers["content-security-policy"]


def test_a_post_without_this_sessions_csrf_token_is_refused(
    served: Page, client: httpx.Client
) -> None:
    from ess.store.history import latest_job_id

    token = served.login(client)
    before = latest_job_id(A)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        answer = client.post(f"{served.url}/api/databases/{A}/jobs", json={}, headers=headers)
        assert answer.status_code == 403
        assert "CSRF" in answer.json()["error"]
    assert client.post(f"{served.url}/logout", data={"csrf": "nope"}).status_code == 403
    assert latest_job_id(A) == before
    out = client.post(f"{served.url}/logout", data={"csrf": token})
    assert out.status_code == 303
    assert client.get(f"{served.url}/api/status").status_code == 401


def test_an_unknown_database_is_a_404_with_a_message_not_a_trace(
    served: Page, client: httpx.Client
) -> None:
    token = served.login(client)
    headers = {"X-CSRF-Token": token}
    for path in ("nope", "..%2F..%2Fetc", "DROP%20TABLE"):
        for action in ("preview", "jobs"):
            answer = client.post(
                f"{served.url}/api/databases/{path}/{action}", json={}, headers=headers
            )
            assert answer.status_code == 404, (path, action, answer.text)
            assert answer.json()["error"] and "Traceback" not in answer.text
            if "%2F" not in path:  # a slash makes it another (unknown) route
                assert "No payroll database is registered as" in answer.json()["error"]
    answer = client.get(f"{served.url}/api/log", params={"database": "nope"})
    assert answer.status_code == 404 and "nope" in answer.json()["error"]


def test_bad_paging_forged_job_ids_and_bad_kinds_are_refused_clearly(
    served: Page, client: httpx.Client
) -> None:
    token = served.login(client)
    for params, status, words in [
        ({"page": "abc"}, 400, "page"),
        ({"page": "0"}, 400, "page"),
        ({"job": "1 OR 1=1"}, 400, "job"),
        ({"job": "999999"}, 404, "No job 999999"),
        ({"job": "999999", "database": A}, 404, "No job 999999"),
    ]:
        answer = client.get(f"{served.url}/api/log", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert words in answer.json()["error"]
        assert "Traceback" not in answer.text
    kind = client.post(
        f"{served.url}/api/databases/{A}/jobs",
        json={"kind": "rm -rf"},
        headers={"X-CSRF-Token": token},
    )
    assert kind.status_code == 400 and "kind" in kind.json()["error"]
    missing = client.get(f"{served.url}/no-such-page")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "Traceback" not in missing.text


def test_the_log_comes_newest_first_by_pages_of_fifty(served: Page, client: httpx.Client) -> None:
    served.login(client)
    first = client.get(f"{served.url}/api/log").json()
    assert first["page"] == 1 and first["per_page"] == 50
    assert first["pages"] == max(1, -(-first["total"] // 50))
    ids = [row["id"] for row in first["rows"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == min(50, first["total"])
    beyond = client.get(f"{served.url}/api/log", params={"page": first["pages"] + 1}).json()
    assert beyond["rows"] == []


def test_no_connection_string_or_password_ever_reaches_the_browser(
    served: Page, client: httpx.Client
) -> None:
    served.login(client)
    bodies = [
        client.get(f"{served.url}{path}").text
        for path in ("/settings/general", "/api/status", "/api/log", "/api/jobs")
    ]
    status = client.get(f"{served.url}/api/status").json()
    secret = next(d for d in status["databases"] if d["name"] == SECRET)
    assert "S3cret" not in secret["connection"] and "127.0.0.1" in secret["connection"]
    for body in bodies:
        assert "S3cret" not in body
        assert PASSWORD not in body
        assert str(served.payrolls[A]) not in body or "sqlite" in body


def test_the_page_does_not_start_without_an_administrator_password(tmp_path: Path) -> None:
    with pytest.raises(UiNotConfigured, match="ESS_UI_PASSWORD"):
        UiSettings(password=None).checked_password()
    env = {k: v for k, v in os.environ.items() if k != "ESS_UI_PASSWORD"}
    env["ESS_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "cli.ui", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Set ESS_UI_PASSWORD" in done.stderr


def test_jobs_start_through_the_deployments_named_in_prefect_yaml(tmp_path: Path) -> None:
    names = deployment_names()
    assert names["sync-from-payroll"].startswith("sync-from-payroll/")
    assert names["sync-leave-balances"].startswith("sync-leave-balances/")
    assert deployment_names(tmp_path / "absent.yaml") == {
        "sync-from-payroll": "sync-from-payroll/ess-sync",
        "sync-leave-balances": "sync-leave-balances/ess-sync",
        "reconcile": "reconcile/ess-sync",
    }
    assert UiSettings(runner="local").uses_prefect() is False
    assert UiSettings(runner="prefect").uses_prefect() is True


def test_the_page_shows_each_database_s_next_scheduled_run(
    served: Page, client: httpx.Client
) -> None:
    from ess.store.schedules import remove_schedule, save_schedule

    served.login(client)
    save_schedule(A, "sync-from-payroll", "0 2 * * *", "Australia/Sydney")
    try:
        rows = {r["name"]: r for r in client.get(f"{served.url}/api/status").json()["databases"]}
        assert rows[A]["next_run"].endswith((" 02:00 AEDT", " 02:00 AEST"))
        assert rows[B]["next_run"] is None
        page = client.get(f"{served.url}/settings/general").text
        assert f"Next: {rows[A]['next_run']}" in page
    finally:
        remove_schedule(A, "sync-from-payroll")
