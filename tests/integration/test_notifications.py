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


def test_one_failure_sends_one_message_naming_the_database_its_job_line_and_run(
    prefect_world, broken, fine
):
    with http_receiver() as (hook, posts), smtp_receiver() as (smtp_port, mails):
        added = notify(prefect_world, "add", "--webhook", hook, "--name", "hook-once")
        assert "s3cret-token" not in added, added
        notify(prefect_world, "add", "--email", "payroll@example.com", "--smtp",
               f"127.0.0.1:{smtp_port}", "--name", "mail-once")  # fmt: skip
        listed = notify(prefect_world, "list")
        assert "hook-once" in listed and "mail-once" in listed and "s3cret" not in listed
        try:
            failed = sync(prefect_world, BROKEN)
            assert failed.state.is_failed(), failed.state
            assert failed.state.message.startswith("Job Failed: "), failed.state.message
            [post] = arrived(prefect_world, posts, 1, "the webhook's message")
            [mail] = arrived(prefect_world, mails, 1, "the email")
            # A completed run sends nothing: the next failure's message is the next to arrive.
            assert sync(prefect_world, FINE).state.is_completed()
            again = sync(prefect_world, BROKEN)
            second = arrived(prefect_world, posts, 2, "the second failure's message")
        finally:
            notify(prefect_world, "remove", "mail-once")
            notify(prefect_world, "remove", "hook-once")
    body = post["body"]
    assert post["notification"] == "hook-once"
    assert f"sync-from-payroll of the payroll database {BROKEN} ended Failed." in body
    assert failed.state.message in body
    assert f"/runs/flow-run/{failed.id}" in body
    assert BROKEN in post["subject"]
    assert [p["body"] for p in second][1].count(str(again.id)) == 1
    assert FINE not in " ".join(p["body"] for p in second)
    email = message_from_string(mail["data"], policy=default)
    assert email["To"] == "payroll@example.com" and BROKEN in email["Subject"]
    content = email.get_content()
    assert failed.state.message in content and f"/runs/flow-run/{failed.id}" in content
    for fragment in secret_fragments(broken):
        for text in (body, post["subject"], mail["data"], content):
            assert fragment not in text, f"{fragment!r} leaked into {text!r}"


def test_with_after_2_the_first_failure_sends_nothing_and_the_second_sends_one(
    prefect_world, broken
):
    with http_receiver() as (hook, posts):
        notify(prefect_world, "add", "--webhook", hook, "--after", "2", "--name", "hook-twice")
        try:
            first = sync(prefect_world, BROKEN)
            second = sync(prefect_world, BROKEN)
            [post] = arrived(prefect_world, posts, 1, "the message after two failures")
        finally:
            notify(prefect_world, "remove", "hook-twice")
    assert first.state.is_failed() and second.state.is_failed()
    # Had the first failure sent, its message would have been the first to arrive.
    assert str(second.id) in post["body"] and str(first.id) not in post["body"]


def test_notify_refuses_without_a_prefect_server(tmp_path):
    result = run(
        ess_sync("notify", "add", "--webhook", "http://127.0.0.1:9/x"),
        isolated_env(PREFECT_HOME=str(tmp_path), ESS_DATA_DIR=str(tmp_path / "data")),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "No Prefect server is configured" in words(result.stderr)
