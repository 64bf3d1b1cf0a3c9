"""Administrator login: signed session cookies, CSRF tokens and security headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

from fastapi import Request, Response

COOKIE = "ess_ui_session"
CSRF_HEADER = "X-CSRF-Token"
_FAILURES_PER_MINUTE = 10

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


class Sessions:
    """Logged-in administrators of this process; the secret dies with the process."""

    def __init__(self, password: str, lifetime_seconds: float) -> None:
        self._password = password.encode()
        self._secret = secrets.token_bytes(32)
        self._lifetime = lifetime_seconds
        self._live: dict[str, float] = {}
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def password_matches(self, attempt: str) -> bool:
        """Compare in constant time, so timing tells nothing about the password."""
        return hmac.compare_digest(attempt.encode(), self._password)

    def too_many_failures(self) -> bool:
        """True while the last minute saw too many wrong passwords (slows guessing)."""
        now = time.monotonic()
        with self._lock:
            while self._failures and now - self._failures[0] > 60:
                self._failures.popleft()
            return len(self._failures) >= _FAILURES_PER_MINUTE

    def record_failure(self) -> None:
        """Count a wrong password."""
        with self._lock:
            self._failures.append(time.monotonic())

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
