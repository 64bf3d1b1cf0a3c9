"""Failures reach a person: a Prefect notification block and the automation that uses it.

`ess-sync notify add` saves one notification block (custom webhook, Slack, Teams or SMTP
email) and one automation that sends through it when a per-database sync deployment's run
(tag MANAGED_TAG) ends Failed, TimedOut or Crashed, or Cancelled because its database was
busy, `after` times for one deployment within `within`.

No secret reaches a message: the body is built only from the deployment's name (the
database), the flow's name, the state's name and, when it is one of ours, the state's message
(the job's last Web API Log line, written secret-free), and the run's UI link. Never the
run's parameters, and never a message Prefect built from an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from prefect.automations import (
    AutomationCore,
    CompoundTrigger,
    EventTrigger,
    Posture,
    ResourceSpecification,
    SendNotification,
)
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    SlackWebhook,
)
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import TriggerTypes
from prefect.exceptions import ObjectNotFound
from prefect.types import SecretDict
from pydantic import SecretStr

from blocks.email import DEFAULT_SMTP_PORT, SmtpEmail
from core.notifications import BUSY_MESSAGES, FAILED_STATES, SAFE_MESSAGES, valid_name
from orchestration.deployments import MANAGED_TAG

AUTOMATION_PREFIX = "ess-sync notify: "
BLOCK_PREFIX = "ess-sync-notify-"
WEBHOOK, SLACK, TEAMS, EMAIL = "webhook", "slack", "teams", "email"
KIND_TAG, TARGET_TAG = "ess-sync-notify-kind:", "ess-sync-notify-target:"
# Counted per deployment: one database's sync failing says nothing about another's.
PER_DEPLOYMENT = "related:deployment:prefect.resource.id"
SUBJECT = (
    "ESS Payroll Sync: {{ flow.name }} of {{ deployment.name }} ended {{ flow_run.state.name }}"
)
_SAFE_TEST = " or ".join(f"message.startswith({p!r})" for p in SAFE_MESSAGES)
BODY = (
    "{{ flow.name }} of the payroll database {{ deployment.name }} ended "
    "{{ flow_run.state.name }}.\n"
    "{% set message = flow_run.state.message or '' %}"
    f"{{% if {_SAFE_TEST} %}}{{{{ message }}}}"
    "{% else %}Prefect's message is not copied here: see the run.{% endif %}\n"
    "Run: {{ flow_run|ui_url }}\n"
)


class NotificationExists(ValueError):
    """A notification of that name is already set up."""


class UnknownNotification(LookupError):
    """No notification of that name is set up."""


@dataclass(frozen=True)
class Target:
    """Where messages go, as `notify add` was told."""

    kind: str
    address: str  # a URL or an email address: a secret for Slack and Teams, shown redacted
    smtp_host: str | None = None
    smtp_port: int = DEFAULT_SMTP_PORT
    smtp_user: str | None = None
    smtp_password: str | None = None


@dataclass(frozen=True)
class Notification:
    """One notification as `notify list` shows it: never the URL's path or a password."""

    name: str
    kind: str
    target: str
    after: int
    within_hours: float
    on_success: bool
    enabled: bool


def default_within(after: int) -> timedelta:
    """N days for N runs in a row: N nightly runs fit in it."""
    return timedelta(days=after)


def add_notification(
    name: str,
    target: Target,
    *,
    after: int = 1,
    within: timedelta | None = None,
    on_success: bool = False,
) -> Notification:
    """Save the notification block and its automation; NotificationExists if the name is taken."""
    valid_name(name)
    window = within if within is not None else default_within(after)
    with get_client(sync_client=True) as client:
        if client.read_automations_by_name(AUTOMATION_PREFIX + name):
            raise NotificationExists(
                f"A notification named {name!r} exists: give another --name, or remove it first."
            )
    block = _block(name, target)
    block_id: UUID = block.save(BLOCK_PREFIX + name, overwrite=True)  # type: ignore[assignment]
    automation = notification_automation(name, block_id, after, window, on_success)
    automation.tags = _tags(target)
    with get_client(sync_client=True) as client:
        client.create_automation(automation)
    return Notification(name, target.kind, _shown(target), after, _hours(window), on_success, True)


def list_notifications() -> list[Notification]:
    """Every notification `notify add` set up on this server, by name."""
    with get_client(sync_client=True) as client:
        automations = client.read_automations()
    found = [_described(a) for a in automations if a.name.startswith(AUTOMATION_PREFIX)]
    return sorted(found, key=lambda n: n.name)


def remove_notification(name: str) -> None:
    """Delete the notification's automation and block; UnknownNotification if there is none."""
    removed = False
    with get_client(sync_client=True) as client:
        for automation in client.read_automations_by_name(AUTOMATION_PREFIX + name):
            client.delete_automation(automation.id)
            removed = True
        for slug in _KINDS:
            try:
                block = client.read_block_document_by_name(
                    BLOCK_PREFIX + name, slug, include_secrets=False
                )
            except ObjectNotFound:
                continue
            if block.id is not None:
                client.delete_block_document(block.id)
                removed = True
    if not removed:
        raise UnknownNotification(f"No notification is named {name!r}: see `ess-sync notify list`.")


def notification_automation(
    name: str, block_id: UUID, after: int, within: timedelta, on_success: bool
) -> AutomationCore:
    """The automation of one notification: which runs, how many in a row, what it sends."""
    window = timedelta(0) if after == 1 else within
    triggers: list[TriggerTypes] = [
        _runs_ending(FAILED_STATES, {}, after, window),
        _runs_ending({"Cancelled"}, {"prefect.state-message": list(BUSY_MESSAGES)}, after, window),
    ]
    if on_success:
        triggers.append(_runs_ending({"Completed"}, {}, 1, timedelta(0)))
    return AutomationCore(
        name=AUTOMATION_PREFIX + name,
        description=(
            f"Sends a message through the block {BLOCK_PREFIX + name} when a payroll database's "
            f"sync ends Failed, TimedOut or Crashed, or Cancelled because its database was busy, "
            f"{after} time(s) for one deployment within {_hours(window)} h"
            f"{'; and when one completes' if on_success else ''}. Managed by `ess-sync notify`."
        ),
        trigger=CompoundTrigger(require="any", triggers=triggers, within=None),
        actions=[SendNotification(block_document_id=block_id, subject=SUBJECT, body=BODY)],
    )


def _runs_ending(
    states: Iterable[str], labels: dict[str, Any], threshold: int, within: timedelta
) -> EventTrigger:
    return EventTrigger(
        match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*", **labels}),
        match_related=ResourceSpecification(
            {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{MANAGED_TAG}"}
        ),
        # State events are named by the state's name: TimedOut is a Failed type of its own.
        expect={f"prefect.flow-run.{state}" for state in states},
        for_each={PER_DEPLOYMENT},
        posture=Posture.Reactive,
        threshold=threshold,
        within=within,
    )


def _block(name: str, target: Target) -> NotificationBlock:
    if target.kind == WEBHOOK:
        # The URL is a template filled from the block's secrets: a token in it stays secret.
        return CustomWebhookNotificationBlock(
            name=name,
            url="{{url}}",
            method="POST",
            headers=None,
            cookies=None,
            json_data={"subject": "{{subject}}", "body": "{{body}}", "notification": "{{name}}"},
            secrets=SecretDict({"url": target.address}),
        )
    if target.kind == SLACK:
        return SlackWebhook(url=SecretStr(target.address))
    if target.kind == TEAMS:
        return MicrosoftTeamsWebhook(url=SecretStr(target.address))
    if target.kind == EMAIL and target.smtp_host:
        return SmtpEmail(
            to_address=target.address,
            host=target.smtp_host,
            port=target.smtp_port,
            username=target.smtp_user,
            password=SecretStr(target.smtp_password) if target.smtp_password else None,
        )
    raise ValueError(f"Unknown notification target {target.kind!r}.")


def _shown(target: Target) -> str:
    if target.kind == EMAIL:
        return f"{target.address} via {target.smtp_host}:{target.smtp_port}"
    # A webhook's path and query often carry its token: show where it goes, not the key.
    parts = urlsplit(target.address)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


_KINDS = {
    CustomWebhookNotificationBlock.get_block_type_slug(): WEBHOOK,
    SlackWebhook.get_block_type_slug(): SLACK,
    MicrosoftTeamsWebhook.get_block_type_slug(): TEAMS,
    SmtpEmail.get_block_type_slug(): EMAIL,
}


def _tags(target: Target) -> list[str]:
    # What `notify list` shows, kept on the automation: listing never reads a secret.
    return [f"{KIND_TAG}{target.kind}", f"{TARGET_TAG}{_shown(target)}"]


def _described(automation: Any) -> Notification:
    tags = {t.partition(":")[0] + ":": t.partition(":")[2] for t in automation.tags}
    children = getattr(automation.trigger, "triggers", [])
    first = children[0]
    on_success = any("prefect.flow-run.Completed" in c.expect for c in children)
    return Notification(
        name=automation.name[len(AUTOMATION_PREFIX) :],
        kind=tags.get(KIND_TAG, "?"),
        target=tags.get(TARGET_TAG, "?"),
        after=first.threshold,
        within_hours=_hours(first.within),
        on_success=on_success,
        enabled=automation.enabled,
    )


def _hours(window: timedelta) -> float:
    return round(window.total_seconds() / 3600, 2)
