"""Administrator login: signed session cookies, CSRF tokens, login limits and security headers.

Failed logins are limited in two layers, so that no one can lock the administrator out:

- **Per client address** (the TCP peer, or the address a trusted proxy forwarded; an IPv6
  client counts as its /64, the block one machine usually holds): four wrong passwords cost
  nothing (typing mistakes); from the fifth on, each makes that address wait 2 s, 4 s,
  8 s, ... up to 15 minutes before its next password is even checked (answered 429, the
  right password too); a right password after the wait clears the count. An address's
  failures are forgotten 15 minutes after its last one. One hammering address therefore
  slows itself down and no one else.
- **A global ceiling** for guessing spread over many addresses: a token bucket of 100
  failures refilled at one every 6 s (600 an hour). While it is empty, every address that
  failed in the last 60 s waits out those 60 s before its next password is checked; an
  address without a recent failure is checked at once. So the bucket never refuses the
  right password for more than a minute (a flat global lock-out would let anyone lock the
  page for everyone, the fault this design replaces), while guessing is cut to one password
  a minute per address; with passwords of 12 characters or more that is too slow to matter.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

COOKIE = "ess_ui_session"
CSRF_HEADER = "X-CSRF-Token"

# No inline script or style: a value that slipped past escaping still cannot run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def client_address(request: Request) -> str:
    """Whom the login limits count a request against: its address, or its IPv6 /64."""
    # uvicorn has already replaced the peer by X-Forwarded-For when the peer is a proxy
    # named in --forwarded-allow-ips, and only then: a spoofed header changes nothing here.
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = -math.inf
    blocked_until: float = -math.inf


class LoginLimits:
    """Wrong passwords counted per client address, under a global ceiling (see the module)."""

    FREE_FAILURES = 5
    LONGEST_WAIT = 15 * 60.0
    CEILING = 100
    REFILL_SECONDS = 6.0
    PRESSURE_WAIT = 60.0
    _REMEMBERED = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._clients: dict[str, _Client] = {}
        self._tokens = float(self.CEILING)
        self._refilled = clock()
        self._lock = threading.Lock()

    def wait_for(self, client: str) -> float:
        """Seconds before the client's next password is checked; 0 = check it now."""
        with self._lock:
            now = self._refill()
            state = self._current(client, now)
            if state is None:
                return 0.0
            wait = state.blocked_until - now
            if self._tokens < 1:
                wait = max(wait, state.last_failure + self.PRESSURE_WAIT - now)
            return max(0.0, wait)

    def failed(self, client: str) -> None:
        """Count a wrong password from the client, against it and against the ceiling."""
        with self._lock:
            now = self._refill()
            self._tokens = max(0.0, self._tokens - 1)
            state = self._current(client, now) or self._clients.setdefault(client, _Client())
            state.failures += 1
            state.last_failure = now
            if state.failures >= self.FREE_FAILURES:
                extra = state.failures - self.FREE_FAILURES + 1
                state.blocked_until = now + min(2.0**extra, self.LONGEST_WAIT)
            if len(self._clients) > self._REMEMBERED:
                self._forget_old(now)

    def succeeded(self, client: str) -> None:
        """Forget the client's failures: its administrator is in."""
        with self._lock:
            self._clients.pop(client, None)

    def _refill(self) -> float:
        now = self._clock()
        gained = (now - self._refilled) / self.REFILL_SECONDS
        self._tokens = min(float(self.CEILING), self._tokens + gained)
        self._refilled = now
        return now

    def _current(self, client: str, now: float) -> _Client | None:
        state = self._clients.get(client)
        if state is not None and now - state.last_failure > self.LONGEST_WAIT:
            del self._clients[client]
            return None
        return state

    def _forget_old(self, now: float) -> None:
        # Memory stays bounded under a flood of addresses: first forget those not waiting.
        self._clients = {
            client: state
            for client, state in self._clients.items()
            if state.blocked_until > now or now - state.last_failure < self.PRESSURE_WAIT
        }
        if len(self._clients) > self._REMEMBERED:
            recent = sorted(self._clients.items(), key=lambda item: item[1].last_failure)
            self._clients = dict(recent[len(recent) // 2 :])


class Sessions:
    """Logged-in administrators of this process; the secret dies with the process."""

    def __init__(self, password: str, lifetime_seconds: float) -> None:
        self._password = password.encode()
        self._secret = secrets.token_bytes(32)
        self._lifetime = lifetime_seconds
        self._live: dict[str, float] = {}
        self._lock = threading.Lock()

    def password_matches(self, attempt: str) -> bool:
        """Compare in constant time, so timing tells nothing about the password."""
        return hmac.compare_digest(attempt.encode(), self._password)

    def open(self, response: Response, secure: bool) -> None:
        """Start a session and set its cookie (HttpOnly, SameSite=Strict)."""
        session_id = secrets.token_urlsafe(24)
        expires = time.time() + self._lifetime
        with self._lock:
            self._live[session_id] = expires
        value = f"{session_id}.{int(expires)}"
        response.set_cookie(
            COOKIE,
            f"{value}.{self._sign(value)}",
            max_age=int(self._lifetime),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )

    def close(self, request: Request, response: Response) -> None:
        """End the request's session, here and in the browser."""
        session_id = self.session_of(request)
        if session_id is not None:
            with self._lock:
                self._live.pop(session_id, None)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")

    def session_of(self, request: Request) -> str | None:
        """The request's live session id, or None (no cookie, forged, expired, logged out)."""
        raw = request.cookies.get(COOKIE, "")
        value, _, signature = raw.rpartition(".")
        if not value or not hmac.compare_digest(signature, self._sign(value)):
            return None
        session_id = value.partition(".")[0]
        with self._lock:
            expires = self._live.get(session_id)
            if expires is None or expires < time.time():
                self._live.pop(session_id, None)
                return None
        return session_id

    def csrf_token(self, session_id: str) -> str:
        """The session's CSRF token, which a page sends back with every POST."""
        return self._sign(f"csrf.{session_id}")

    def csrf_ok(self, session_id: str, token: str | None) -> bool:
        """True when the token is this session's."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session_id))

    def _sign(self, value: str) -> str:
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
