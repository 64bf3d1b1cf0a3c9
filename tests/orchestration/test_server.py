"""Which Prefect servers count as this machine's own: the loopback check, without a network."""

from __future__ import annotations

import pytest

from orchestration.server import is_loopback

NAMES = {"prefect.internal": ["127.0.0.1"], "prefect.example": ["10.0.0.5"]}


def resolve(host: str) -> list[str]:
    """A resolver that knows NAMES and nothing else, as an offline DNS would."""
    if host not in NAMES:
        raise OSError(f"unknown host {host}")
    return NAMES[host]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LOCALHOST."],
)
def test_loopback_addresses_and_localhost_are_this_machine(host):
    assert is_loopback(host, resolve)


@pytest.mark.parametrize(
    "host", ["10.0.0.5", "0.0.0.0", "::", "192.168.1.20", "2001:db8::1", "prefect.example", ""]
)
def test_other_addresses_are_reachable_from_elsewhere(host):
    assert not is_loopback(host, resolve)


def test_a_name_that_resolves_to_loopback_is_this_machine():
    assert is_loopback("prefect.internal", resolve)


def test_a_name_with_one_address_elsewhere_is_not():
    names = {"split.example": ["127.0.0.1", "10.0.0.5"]}
    assert not is_loopback("split.example", lambda host: names[host])


def test_a_name_that_does_not_resolve_is_not():
    assert not is_loopback("nowhere.invalid", resolve)
