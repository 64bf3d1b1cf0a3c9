"""The Prefect UI in Chromium, as a payroll officer uses it: log in, Run → Quick run, see it done.

The UI is served by the `prefect_world` server at its root (the API without `/api`). That
server demands basic auth, so the UI first shows its login page asking for the auth string.
`ESS_UPDATE_SCREENSHOTS=1` also saves the finished run as docs/prefect-quick-run.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from ess.store.log import read_log
from generator import build_payroll
from tests.integration.conftest import REPO, RUN_TIMEOUT, PrefectWorld, ess_sync, ok, run
from tests.support import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

DATABASE = "coastal_payroll"
SCREENSHOT = REPO / "docs" / "prefect-quick-run.png"
# Milliseconds, Playwright's unit. The UI's first load on a busy machine, then a flow run:
# the worker's poll, a fresh process for the flow, the sync itself.
PAGE_MS = 60_000
RUN_MS = RUN_TIMEOUT * 1000
FINAL_STATES = re.compile(r"^(Completed|Failed|Crashed|Cancelled|TimedOut)$")


@pytest.fixture(scope="module")
def registered(prefect_world: PrefectWorld) -> str:
    """A small generated payroll registered with `databases add`, which makes its deployments."""
    url = f"sqlite:///{prefect_world.home / f'{DATABASE}.db'}"
    engine = create_engine(url)
    build_payroll(engine, employees=20)
    engine.dispose()
    ok(run(ess_sync("databases", "add", DATABASE, "--url", url), prefect_world.env))
    return DATABASE


@pytest.fixture
def tab(prefect_world: PrefectWorld, tmp_path: Path) -> Iterator[Any]:
    """A Chromium tab, nothing logged in (Playwright drives Debian's build: nothing downloaded).

    What it shows last, passed or failed, is saved as tmp_path/prefect-quick-run.png.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_MS)
        page = context.new_page()
        try:
            yield page
        finally:
            page.screenshot(path=tmp_path / SCREENSHOT.name)
            context.close()
            chromium.close()


def test_quick_run_in_the_prefect_ui_syncs_the_database_and_shows_its_web_api_log(
    prefect_world: PrefectWorld, registered: str, tab: Any
) -> None:
    from playwright.sync_api import expect

    tab.goto(prefect_world.api_url.removesuffix("/api"))
    # Prefect's login page: the auth string is the password, as the UI asks for it.
    tab.get_by_placeholder("admin:pass").fill(prefect_world.auth_string)
    tab.get_by_role("button", name="Login").click()
    tab.get_by_role("link", name="Deployments", exact=True).click()

    tab.get_by_role("textbox", name="Search deployments").fill(registered)
    # The search is written into the URL after a pause; a click before that would be undone.
    tab.wait_for_url(f"**flowOrDeploymentName={registered}**")
    row = tab.get_by_role("row").filter(
        has=tab.get_by_role("link", name="sync-from-payroll", exact=True)
    )
    row.get_by_role("link", name=registered, exact=True).click()
    tab.wait_for_url("**/deployments/deployment/**")

    tab.get_by_role("button", name="Run", exact=True).click()
    tab.get_by_role("menuitem", name="Quick run").click()
    # Quick run shows the parameters it will use: the database is the deployment's, fixed.
    dialog = tab.get_by_role("dialog", name="Run Deployment")
    expect(dialog.get_by_role("textbox", name="database")).to_have_value(registered)
    with tab.expect_response(lambda answer: answer.url.endswith("/create_flow_run")) as created:
        dialog.get_by_role("button", name="Run", exact=True).click()
    answer = created.value
    assert answer.ok, f"The server refused the run: {answer.status} {answer.text()}"
    run_id = answer.json()["id"]
    expect(dialog).to_be_hidden()
    # The new run shows on the deployment's Runs tab (as its next run, then in the list).
    # Not the "View run" toast: it goes after seconds, and one run here waited for it in vain.
    tab.get_by_role("tabpanel", name="Runs").locator(
        f'a[href$="/runs/flow-run/{run_id}"]'
    ).first.click()
    tab.wait_for_url(f"**/runs/flow-run/{run_id}**")

    state = tab.locator('main [data-slot="badge"]').filter(has_text=FINAL_STATES)
    expect(state).to_be_visible(timeout=RUN_MS)
    assert state.inner_text() == "Completed", prefect_world.logs()

    # Afresh from the server, as support would open it later.
    tab.reload()
    expect(state).to_have_text("Completed")
    expect(tab.get_by_text(f"sync {registered} ").first).to_be_visible()
    tab.get_by_role("tab", name="Artifacts").click()
    web_api_log = tab.get_by_role("link").filter(
        has_text=re.compile(rf"Web API Log of job \d+ \({registered}\)")
    )
    expect(web_api_log).to_be_visible()
    if os.environ.get("ESS_UPDATE_SCREENSHOTS") == "1":
        tab.screenshot(path=SCREENSHOT)

    assert read_log(registered, limit=500)[-1].message == "Job Completed."
