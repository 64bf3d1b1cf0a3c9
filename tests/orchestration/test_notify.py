"""What a notification's automation reacts to and what its message may say, judged by
Prefect's own server-side trigger matching and template rendering (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_string
from email.policy import default
from typing import Any
from uuid import uuid4

import pytest
from prefect.server.events.actions import JinjaTemplateAction
from prefect.server.events.schemas.automations import CompoundTrigger as ServerCompoundTrigger
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.server.utilities.user_templates import render_user_template_sync
from pydantic import SecretStr

from blocks.email import SmtpEmail
from core import messages
from core.notifications import quotable
from orchestration.deployments import MANAGED_TAG
from orchestration.notify import BODY, WEBHOOK, Target, _shown, notification_automation
from tests.receivers import smtp_receiver

BUSY = messages.job_not_started("acme", datetime(2026, 12, 1, tzinfo=UTC), "run-1")
SECRET_ERROR = (
    "Flow run encountered an exception: OperationalError: could not connect to "
    "postgresql://ess:Qz9vW-hunter2@db/payroll"
)


def _event(state: str, message: str | None, tags: tuple[str, ...] = (MANAGED_TAG,)) -> Any:
    deployment = str(uuid4())
    related = [_related(f"prefect.deployment.{deployment}", "deployment")]
    related += [_related(f"prefect.tag.{t}", "tag") for t in tags]
    return ReceivedEvent(
        occurred=datetime.now(UTC),
        event=f"prefect.flow-run.{state}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{uuid4()}",
            "prefect.state-name": state,
            "prefect.state-message": message or "",
        },
        related=related,
        id=uuid4(),
    )


def _related(resource_id: str, role: str) -> dict[str, str]:
    return {"prefect.resource.id": resource_id, "prefect.resource.role": role}


def _sends(automation: Any, event: Any) -> bool:
    server = ServerCompoundTrigger.model_validate(automation.trigger.model_dump(mode="json"))
    return any(child.covers(event) for child in server.triggers)


@pytest.mark.parametrize(
    ("state", "message", "sends"),
    [
        ("Failed", "Job Failed: Importing country failed: no such table", True),
        ("TimedOut", "Job Timed Out after 3600 s.", True),
        ("Crashed", "Flow run infrastructure exited with non-zero status code -9.", True),
        ("Cancelled", BUSY, True),
        ("Cancelled", "Deployment concurrency limit reached.", True),
        ("Cancelled", "Flow run was cancelled by a person.", False),
        ("Cancelled", messages.SYNC_CANCELLED, False),
        ("Cancelling", "Cancelling this run.", False),
        ("Completed", None, False),
        ("Running", None, False),
    ],
)
def test_a_notification_fires_for_failures_and_busy_cancels_only(state, message, sends):
    automation = notification_automation("n", uuid4(), 1, timedelta(0), on_success=False)
    assert _sends(automation, _event(state, message)) is sends


def test_only_per_database_deployments_runs_count_and_successes_only_when_asked():
    quiet = notification_automation("n", uuid4(), 1, timedelta(0), on_success=False)
    loud = notification_automation("n", uuid4(), 1, timedelta(0), on_success=True)
    assert not _sends(quiet, _event("Failed", "Job Failed: x", tags=("ess-sync",)))
    assert _sends(loud, _event("Completed", "Job Completed."))
    assert not _sends(loud, _event("Completed", "Job Completed.", tags=()))


def test_n_in_a_row_is_counted_per_deployment_within_the_window():
    automation = notification_automation("n", uuid4(), 3, timedelta(days=3), on_success=False)
    for child in automation.trigger.triggers:
        assert child.threshold == 3 and child.within == timedelta(days=3)
        assert child.for_each == {"related:deployment:prefect.resource.id"}


class _Named:
    def __init__(self, name: str, message: str | None = None) -> None:
        self.name, self.message = name, message


@pytest.mark.parametrize(
    "message", ["Job Failed: Importing country failed: no such table", BUSY, SECRET_ERROR, None]
)
def test_the_message_quotes_only_state_messages_known_to_hold_no_secret(message):
    run = _Named("r")
    run.state = _Named("Failed", message)  # type: ignore[attr-defined]
    context = {"flow": _Named("sync-from-payroll"), "deployment": _Named("acme"), "flow_run": run}
    # As the server does before it renders: registers Prefect's filters (ui_url).
    JinjaTemplateAction.validate_template(BODY, "body")
    body = render_user_template_sync(BODY, context)
    assert body.startswith("sync-from-payroll of the payroll database acme ended Failed.\n")
    assert (message is not None and message in body) is quotable(message)
    assert "Qz9vW" not in body and "hunter2" not in body


def test_a_webhook_is_shown_without_its_path_or_token():
    shown = _shown(Target(WEBHOOK, "https://hooks.example.com:8443/services/T0/B0/s3cret?k=v"))
    assert shown == "https://hooks.example.com:8443/…"


def test_the_smtp_block_sends_one_plain_email_and_keeps_its_password_secret():
    with smtp_receiver() as (port, mails):
        block = SmtpEmail(
            to_address="payroll@example.com",
            from_address="ess@example.com",
            host="127.0.0.1",
            port=port,
            password=SecretStr("Qz9vW-hunter2"),
        )
        block.send("Job Failed: x.\nRun: http://127.0.0.1:4200/runs/flow-run/1", "Subject line")
        [mail] = mails.all()
    email = message_from_string(mail["data"], policy=default)
    assert (email["To"], email["From"], email["Subject"]) == (
        "payroll@example.com",
        "ess@example.com",
        "Subject line",
    )
    # On the wire lines end CRLF (RFC 5321).
    content = email.get_content().replace("\r\n", "\n")
    assert content.startswith("Job Failed: x.\nRun: http://127.0.0.1:4200/")
    assert "hunter2" not in repr(block) and "hunter2" not in mail["data"]
