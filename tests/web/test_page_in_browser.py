"""Settings > General in a real browser: log in, sync two databases at once, see a failure."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import BROKEN, PASSWORD, SECRET, A, B, Page

pytestmark = pytest.mark.browser

REPO_DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")
JOB_SECONDS = 180_000  # ms: a job is a Prefect flow in a fresh process


@pytest.fixture
def page(browser: Any, served: Page) -> Iterator[Any]:
    """A logged-in tab on Settings > General."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{served.url}/settings/general")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/settings/general")
    yield tab
    context.close()


def _row(tab: Any, database: str) -> Any:
    return tab.locator(f'tr[data-database="{database}"]')


def _button(tab: Any, database: str, kind: str = "sync-from-payroll") -> Any:
    return _row(tab, database).locator(f'button[data-kind="{kind}"]')


def _sync_with_preview(tab: Any, database: str) -> None:
    from playwright.sync_api import expect

    _button(tab, database).click()
    dialog = tab.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(tab.locator("#preview-rows")).to_contain_text("employees", timeout=JOB_SECONDS)
    expect(tab.locator("#preview-rows")).to_contain_text("pay frequency")


def test_a_wrong_password_is_refused(browser: Any, served: Page) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{served.url}/settings/general")
    assert tab.url.endswith("/login")
    tab.fill("#password", "not the password")
    tab.click("button[type=submit]")
    expect(tab.locator("#login-error")).to_have_text("Wrong password.")
    assert tab.context.cookies() == []
    context.close()


def test_two_databases_sync_at_once_without_leaving_the_page(page: Any, served: Page) -> None:
    from playwright.sync_api import expect

    from ess.store.history import latest_job_id

    expect(_row(page, A).locator(".last-sync")).to_have_text("Never")
    expect(page.get_by_text("Entries are kept for one month.")).to_be_visible()

    _sync_with_preview(page, A)
    assert latest_job_id(A) == 0, "a preview starts no job"
    expect(page.locator("#log-rows")).to_contain_text("Preview only: nothing was changed.")

    # Hold A's payroll so its sync stays running (each read answers "database is locked").
    hold = sqlite3.connect(served.payrolls[A], isolation_level=None)
    try:
        hold.execute("BEGIN EXCLUSIVE")
        page.get_by_role("button", name="Yes, sync changes").click()
        expect(page.locator("dialog#confirm")).to_be_hidden()
        expect(_button(page, A)).to_be_disabled()
        expect(_button(page, A, "sync-leave-balances")).to_be_disabled()
        expect(_row(page, A).locator(".job")).to_contain_text("running", timeout=JOB_SECONDS)
        expect(page.locator("#log-rows")).to_contain_text("Job Started.", timeout=JOB_SECONDS)

        # A second start of A is answered at once, by the page, with the job's own words.
        token = page.locator('meta[name="csrf-token"]').get_attribute("content")
        again = page.request.post(
            f"{served.url}/api/databases/{A}/jobs",
            data={"kind": "sync-from-payroll"},
            headers={"X-CSRF-Token": token},
        )
        assert again.status == 409
        assert "already" in again.json()["error"]

        expect(_button(page, B)).to_be_enabled()
        _sync_with_preview(page, B)
        page.get_by_role("button", name="Yes, sync changes").click()
        expect(_button(page, B)).to_be_disabled()
        expect(_row(page, B).locator(".last-sync")).not_to_have_text("Never", timeout=JOB_SECONDS)
        expect(_button(page, B)).to_be_enabled(timeout=10_000)
        expect(_button(page, A)).to_be_disabled()
        expect(_row(page, A).locator(".last-sync")).to_have_text("Never")
    finally:
        hold.execute("ROLLBACK") if hold.in_transaction else None
        hold.close()

    expect(_row(page, A).locator(".last-sync")).not_to_have_text("Never", timeout=JOB_SECONDS)
    expect(_button(page, A)).to_be_enabled(timeout=10_000)
    expect(page.locator("#log-rows")).to_contain_text("Job Completed.")
    expect(page.locator("#log-rows")).to_contain_text("Imported employees: 300 added")


def test_a_failed_sync_stands_out_and_its_buttons_come_back(page: Any, served: Page) -> None:
    from playwright.sync_api import expect

    from ess.store.jobs import COMPLETED, finish_job, take_job
    from jobs.kinds import SYNC_FROM_PAYROLL

    # Another database's row, so clearing the filters below has something else to show.
    finish_job(take_job(A, SYNC_FROM_PAYROLL.name), COMPLETED, "Job Completed.")
    _button(page, BROKEN, "sync-leave-balances").click()
    page.get_by_role("button", name="Yes, sync leave balances").click()
    expect(_row(page, BROKEN).locator(".job.failed")).to_contain_text("failed", timeout=JOB_SECONDS)
    # Another database's job may still be logging retries: read this database's rows.
    page.select_option("#log-database", BROKEN)
    page.click("#refresh-log")
    failed = page.locator("#log-rows tr.failed", has_text="Job Failed")
    expect(failed.first).to_be_visible(timeout=10_000)
    expect(failed.first).to_contain_text("leave")
    expect(_button(page, BROKEN, "sync-leave-balances")).to_be_enabled()

    # Filter the log to that job: only its rows remain, all marked as a failed job's.
    job = failed.first.locator("button.link")
    job_id = (job.text_content() or "").lstrip("#")
    job.click()
    expect(page.locator("#log-job")).to_have_value(job_id)
    expect(page.locator(f'#log-rows tr:not([data-job="{job_id}"])')).to_have_count(0)
    expect(page.locator("#log-rows tr:not(.failed)")).to_have_count(0)
    expect(page.locator("#log-rows tr").first).to_contain_text("Job Failed")
    page.select_option("#log-job", "")
    page.select_option("#log-database", "")
    page.click("#refresh-log")
    expect(page.locator("#log-rows")).to_contain_text(A)

    if os.environ.get("ESS_UI_SCREENSHOT") == "1":
        page.screenshot(path=os.path.join(REPO_DOCS, "settings-general.png"))


def test_a_job_links_to_its_prefect_run_and_its_time_says_its_zone(page: Any, served: Page) -> None:
    import re
    import uuid

    from playwright.sync_api import expect
    from prefect.settings import PREFECT_API_URL

    from ess.store.jobs import FAILED, finish_job, take_job
    from jobs.kinds import SYNC_FROM_PAYROLL

    run_id = str(uuid.uuid4())
    job = take_job(SECRET, SYNC_FROM_PAYROLL.name, flow_run_id=run_id)
    finish_job(job, FAILED, "Job Failed: stand-in.", level="error")
    ui = str(PREFECT_API_URL.value()).rstrip("/").removesuffix("/api")
    link = _row(page, SECRET).locator("a.run-link")
    expect(link).to_have_attribute("href", f"{ui}/runs/flow-run/{run_id}", timeout=10_000)
    expect(link).to_have_text("Prefect run")
    # "… failed 2026-11-30 02:00:05 AEDT · …": the time names its zone.
    expect(_row(page, SECRET).locator(".job")).to_have_text(
        re.compile(r"failed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([A-Z]{2,5}|[+-]\d{4}) ·")
    )


def test_at_390_px_wide_every_sync_button_is_reachable_without_scrolling_sideways(
    browser: Any, served: Page
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    tab.goto(f"{served.url}/settings/general")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/settings/general")
    buttons = tab.locator("button.sync")
    expect(buttons.first).to_be_visible()
    expect(tab.locator("#log-rows tr").first).to_be_visible(timeout=10_000)
    assert buttons.count() >= 2 * len(served.payrolls)
    for n in range(buttons.count()):
        box = buttons.nth(n).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (n, box)
    # What sticks out, named, if anything does (the log scrolls inside its own box).
    wide = tab.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > 390 && !e.closest('table.log'))"
        ".map(e => `${e.tagName}.${e.className}#${e.id}`)"
    )
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= 390, wide
    context.close()


def test_check_against_payroll_runs_a_reconciliation_and_shows_what_it_found(
    page: Any, served: Page
) -> None:
    from playwright.sync_api import expect

    check = _button(page, A, "reconcile")
    expect(check).to_be_enabled(timeout=JOB_SECONDS)
    check.click()
    expect(page.locator("#status-line")).to_contain_text("Started reconciliation")
    found = _row(page, A).locator(".reconciled")
    expect(found).to_contain_text("differences", timeout=JOB_SECONDS)
    expect(check).to_be_enabled(timeout=10_000)
