"""Login limits: per client address, a global ceiling, a minimum password, proxy headers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from tests.web.conftest import PASSWORD, serving
from web.security import LoginLimits, client_address
from web.settings import UiNotConfigured, UiSettings


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page behind a trusted proxy on 127.0.0.1 (the tests play the proxy)."""
    folder = tmp_path_factory.mktemp("proxied")
    with serving(folder, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1") as url:
        yield url


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page with proxy headers on, trusting only a proxy that is not us."""
    folder = tmp_path_factory.mktemp("untrusted")
    with serving(folder, "--proxy-headers", "--forwarded-allow-ips", "192.0.2.1") as url:
        yield url


def _login(url: str, password: str, **headers: str) -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        return client.post(f"{url}/login", data={"password": password}, headers=headers)


def test_fifty_wrong_passwords_from_one_address_do_not_lock_out_another(proxied: str) -> None:
    hammer = {"X-Forwarded-For": "203.0.113.7"}
    answers = [_login(proxied, f"guess number {i}", **hammer).status_code for i in range(50)]
    assert answers[:5] == [401] * 5
    assert set(answers) == {401, 429} and answers.count(429) >= 40

    other = _login(proxied, PASSWORD, **{"X-Forwarded-For": "198.51.100.9"})
    assert other.status_code == 303 and "ess_ui_session=" in other.headers["set-cookie"]

    # The hammering address is refused even the right password until its wait has passed.
    # Checked straight after a refusal with seconds still to run: on a slow machine the last
    # block (2, 4, 8 s…) may have run out while it hammered; one more wrong password after it
    # doubles the next.
    for _ in range(8):
        probe = _login(proxied, "still guessing", **hammer)
        if probe.status_code == 429 and int(probe.headers["Retry-After"]) >= 3:
            break
        if probe.status_code == 429:
            time.sleep(int(probe.headers["Retry-After"]) + 0.2)
    else:
        pytest.fail("the hammering address was never made to wait 3 s or more")
    refused = _login(proxied, PASSWORD, **hammer)
    assert refused.status_code == 429, refused.text
    assert "Too many wrong passwords from this address: try again in" in refused.text
    assert "set-cookie" not in refused.headers
    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert _login(proxied, PASSWORD, **hammer).status_code == 303


def test_the_cookie_is_secure_when_a_trusted_proxy_saw_https(proxied: str) -> None:
    through_https = _login(
        proxied, PASSWORD, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"}
    )
    assert through_https.status_code == 303
    assert "; secure" in through_https.headers["set-cookie"].lower()
    plain = _login(proxied, PASSWORD, **{"X-Forwarded-For": "198.51.100.21"})
    assert plain.status_code == 303 and "secure" not in plain.headers["set-cookie"].lower()


def test_an_untrusted_client_can_claim_neither_https_nor_another_address(untrusted: str) -> None:
    claimed = _login(untrusted, PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert claimed.status_code == 303
    assert "secure" not in claimed.headers["set-cookie"].lower()
    # Five failures under five made-up addresses are five failures of 127.0.0.1.
    for i in range(5):
        wrong = _login(untrusted, "guess", **{"X-Forwarded-For": f"192.0.2.{10 + i}"})
        assert wrong.status_code == 401
    spoofed = _login(untrusted, PASSWORD, **{"X-Forwarded-For": "192.0.2.99"})
    assert spoofed.status_code == 429


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_twice_as_long_after_each_failure_beyond_four() -> None:
    clock = _Clock()
    limits = LoginLimits(clock)
    waits = []
    for _ in range(8):
        assert limits.wait_for("203.0.113.7") == 0
        limits.failed("203.0.113.7")
        waits.append(limits.wait_for("203.0.113.7"))
        clock.now += waits[-1]
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16]
    for _ in range(20):
        limits.failed("203.0.113.7")
    assert limits.wait_for("203.0.113.7") == LoginLimits.LONGEST_WAIT
    assert limits.wait_for("198.51.100.9") == 0
    clock.now += LoginLimits.LONGEST_WAIT
    assert limits.wait_for("203.0.113.7") == 0
    limits.succeeded("203.0.113.7")
    limits.failed("203.0.113.7")
    assert limits.wait_for("203.0.113.7") == 0, "a login clears the count"


def test_the_global_ceiling_never_keeps_the_right_password_out_for_more_than_a_minute() -> None:
    clock = _Clock()
    limits = LoginLimits(clock)
    # The administrator mistypes once, just as guessing from many addresses begins.
    limits.failed("198.51.100.9")
    attacker = 0
    for second in range(600):
        clock.now += 1
        for _ in range(5):  # five fresh addresses a second, one guess each
            attacker += 1
            address = f"10.{attacker // 65536}.{attacker // 256 % 256}.{attacker % 256}"
            assert limits.wait_for(address) == 0
            limits.failed(address)
        wait = limits.wait_for("198.51.100.9")
        # Once the bucket is empty an address waits out a minute after its last failure.
        assert wait <= LoginLimits.PRESSURE_WAIT
        if second > 60:
            assert wait == 0
    # While the bucket is empty, an address that failed waits a minute, not longer.
    limits.failed("198.51.100.9")
    assert limits.wait_for("198.51.100.9") == LoginLimits.PRESSURE_WAIT
    clock.now += LoginLimits.PRESSURE_WAIT
    assert limits.wait_for("198.51.100.9") == 0
    # With the guessing over, the bucket refills and a single mistake costs nothing again.
    clock.now += LoginLimits.CEILING * LoginLimits.REFILL_SECONDS
    limits.failed("198.51.100.9")
    assert limits.wait_for("198.51.100.9") == 0


def test_an_ipv6_client_counts_as_its_slash_64() -> None:
    def address(host: str) -> str:
        return client_address(Request({"type": "http", "client": (host, 1), "headers": []}))

    assert address("2001:db8:1:2::5") == address("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::5") != address("2001:db8:1:2::5")
    assert address("::ffff:192.0.2.7") == "192.0.2.7"
    assert address("198.51.100.9") == "198.51.100.9"


def test_the_page_does_not_start_with_a_password_shorter_than_twelve(tmp_path: Path) -> None:
    with pytest.raises(UiNotConfigured, match="at least 12"):
        UiSettings(password="eleven-char").checked_password()
    assert UiSettings(password="twelve-chars").checked_password() == "twelve-chars"
    env = {**os.environ, "ESS_DATA_DIR": str(tmp_path), "ESS_UI_PASSWORD": "short"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.ui", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "ESS_UI_PASSWORD has 5 characters but the page needs at least 12" in done.stderr
