"""Failures reach a person: `ess-sync notify` on the real server, worker and automations.

A payroll database registered with a password full of special characters points at an
empty PostgreSQL database (its server trusts 127.0.0.1, so the password is carried but not
checked), so each of its runs ends `Job Failed: ... failed: ...`. A webhook and an SMTP
server started by the test receive what the Prefect server's automation sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_string
from email.policy import default
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, make_url

from generator import build_payroll
from tests.conftest import postgres_url
from tests.integration.conftest import (
    PrefectWorld,
    ess_sync,
    isolated_env,
    ok,
    run,
    run_to_the_end,
    wait_for,
    words,
)
from tests.receivers import Received, http_receiver, smtp_receiver

BROKEN = "broken_payroll"
FINE = "fine_payroll"
PASSWORD = "Qz9vW p@ss:w/o%rd?#&=;{}[]'\"\\ é Qz9vW"
# From a run's end to the server's automation sending: events, triggers, the action.
DELIVERY_SECONDS = 60


@pytest.fixture(scope="module")
def broken(prefect_world: PrefectWorld) -> Iterator[str]:
    """A database whose payroll has no tables, registered with a password; its URL."""
    from tests.conftest import _create_postgres_database, _drop_postgres_database, suite_problem

    problem = suite_problem("postgres")
    if problem:
        pytest.skip(f"postgres suite skipped: {problem}")
    name = _create_postgres_database("payroll_empty")
    url = make_url(postgres_url(name)).set(password=PASSWORD).render_as_string(False)
    ok(run(ess_sync("databases", "add", BROKEN, "--url", url), prefect_world.env))
    yield url
    _drop_postgres_database(name)


@pytest.fixture(scope="module")
def fine(prefect_world: PrefectWorld) -> str:
    """A small payroll whose syncs complete."""
    url = f"sqlite:///{prefect_world.home / 'fine_payroll.db'}"
    engine = create_engine(url)
    build_payroll(engine, employees=10)
    engine.dispose()
    ok(run(ess_sync("databases", "add", FINE, "--url", url), prefect_world.env))
    return url


def notify(world: PrefectWorld, *args: str) -> str:
    """`ess-sync notify ARGS`'s output, which must succeed."""
    return words(ok(run(ess_sync("notify", *args), world.env)))


def sync(world: PrefectWorld, database: str) -> Any:
    """One run of the database's sync-from-payroll deployment, to its end."""
    return run_to_the_end(world, f"sync-from-payroll/{database}", {})


def arrived(world: PrefectWorld, received: Received, count: int, what: str) -> list[Any]:
    """Wait until `count` messages have arrived; all of them."""
    return wait_for(
        lambda: received.all() if len(received.all()) >= count else None,
        DELIVERY_SECONDS,
        what,
        world.logs,
    )


def secret_fragments(url: str) -> list[str]:
    """Pieces of the registered connection that no message may hold."""
    return [PASSWORD, quote(PASSWORD, safe=""), "Qz9vW", "p@ss", url]


def by(notification: str, messages: list[Any]) -> list[Any]:
    """The messages one notification sent."""
    return [m for m in messages if m["notification"] == notification]


def test_failures_reach_a_person_once_each_with_no_secret_and_successes_stay_quiet(
    prefect_world, broken, fine
):
    from orchestration import notify as notifications

    with http_receiver() as (hook, posts), smtp_receiver() as (smtp_port, mails):
        added = notify(prefect_world, "add", "--webhook", hook, "--name", "hook-once")
        assert "s3cret-token" not in added, added
        to_payroll = notifications.Target("email", "payroll@example.com", "127.0.0.1", smtp_port)
        with prefect_world.api():
            notifications.add_notification("mail-once", to_payroll)
            notifications.add_notification(
                "hook-twice", notifications.Target("webhook", hook), after=2
            )
        listed = notify(prefect_world, "list")
        try:
            first = sync(prefect_world, BROKEN)
            assert first.state.is_failed(), first.state
            assert first.state.message.startswith("Job Failed: "), first.state.message
            [mail] = arrived(prefect_world, mails, 1, "the email")
            assert sync(prefect_world, FINE).state.is_completed()
            second = sync(prefect_world, BROKEN)
            wait_for(
                lambda: len(by("hook-once", posts.all())) >= 2 and by("hook-twice", posts.all()),
                DELIVERY_SECONDS,
                "the webhook's messages of both failures",
                prefect_world.logs,
            )
        finally:
            removed = notify(prefect_world, "remove", "hook-once")
            with prefect_world.api():
                notifications.remove_notification("mail-once")
                notifications.remove_notification("hook-twice")
    assert "hook-once" in listed and "hook-twice" in listed and "mail-once" in listed
    assert "s3cret" not in listed and "Notification hook-once: removed." in removed
    once = by("hook-once", posts.all())
    # One message per failure, in order; the completed run in between sent nothing.
    assert [str(first.id) in m["body"] for m in once] == [True, False]
    assert [str(second.id) in m["body"] for m in once] == [False, True]
    body = once[0]["body"]
    assert f"sync-from-payroll of the payroll database {BROKEN} ended Failed." in body
    assert first.state.message in body
    assert f"/runs/flow-run/{first.id}" in body
    assert BROKEN in once[0]["subject"]
    assert all(FINE not in m["body"] + m["subject"] for m in posts.all())
    # --after 2: the first failure sent nothing (had it, its message would have come first).
    [twice] = by("hook-twice", posts.all())
    assert str(second.id) in twice["body"] and str(first.id) not in twice["body"]

    email = message_from_string(mail["data"], policy=default)
    assert email["To"] == "payroll@example.com" and BROKEN in email["Subject"]
    content = email.get_content()
    assert first.state.message in content and f"/runs/flow-run/{first.id}" in content
    sent = [m["body"] + m["subject"] for m in posts.all()] + [mail["data"], content]
    for fragment in secret_fragments(broken):
        for text in sent:
            assert fragment not in text, f"{fragment!r} leaked into {text!r}"


def test_notify_refuses_without_a_prefect_server(tmp_path):
    result = run(
        ess_sync("notify", "add", "--webhook", "http://127.0.0.1:9/x"),
        isolated_env(PREFECT_HOME=str(tmp_path), ESS_DATA_DIR=str(tmp_path / "data")),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "No Prefect server is configured" in words(result.stderr)
