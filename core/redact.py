"""Keeping secrets out of what people read: connection strings and protected numbers."""

from __future__ import annotations

import re

REDACTED = "***"
_SECRET_ODBC_KEYS = {"pwd", "password", "authentication", "accesstoken", "access_token"}
_URL = re.compile(r"^(?P<scheme>[^:/]+)://(?:(?P<user>[^:@/]*)(?::[^@/]*)?@)?(?P<rest>.*)$")
_SECRET_QUERY = re.compile(r"(?i)\b(password|pwd|odbc_connect)=[^&]*")


def split_odbc(connection_string: str) -> list[tuple[str, str]]:
    """The KEY=value pairs of an ODBC connection string, braces understood."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(connection_string)
    while i < n:
        eq = connection_string.find("=", i)
        if eq < 0:
            break
        key = connection_string[i:eq].strip().strip(";").strip()
        j = eq + 1
        if j < n and connection_string[j] == "{":
            # ODBC escapes '}' inside braces by doubling it.
            value_chars: list[str] = []
            j += 1
            while j < n:
                if connection_string[j] == "}":
                    if j + 1 < n and connection_string[j + 1] == "}":
                        value_chars.append("}")
                        j += 2
                        continue
                    j += 1
                    break
                value_chars.append(connection_string[j])
                j += 1
            value = "".join(value_chars)
            semi = connection_string.find(";", j)
            i = n if semi < 0 else semi + 1
        else:
            semi = connection_string.find(";", j)
            end = n if semi < 0 else semi
            value = connection_string[j:end].strip()
            i = end + 1
        if key:
            pairs.append((key, value))
    return pairs


def redact_odbc(connection_string: str) -> str:
    """An ODBC connection string with its password and tokens replaced."""
    shown = []
    for key, value in split_odbc(connection_string):
        secret = key.replace(" ", "").lower() in _SECRET_ODBC_KEYS
        shown.append(f"{key}={REDACTED if secret else value}")
    return ";".join(shown)


def redact_url(url: str) -> str:
    """A SQLAlchemy URL with its password (and any password in the query) replaced."""
    match = _URL.match(url)
    if not match:
        return REDACTED
    user = match.group("user")
    has_password = user is not None and f"{user}:" in url.split("@", 1)[0]
    auth = "" if user is None else (f"{user}:{REDACTED}@" if has_password else f"{user}@")
    rest = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", match.group("rest"))
    return f"{match.group('scheme')}://{auth}{rest}"


def scrub(text: str, secrets: list[str]) -> str:
    """Text with every occurrence of the given secret strings replaced."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def mask_number(value: str | None) -> str | None:
    """A protected number (TFN, bank account) as ESS may keep it: only its last three digits."""
    # Privacy (TFN) Rule 2015: the number never appears in clear outside payroll.
    if value is None:
        return None
    digits = "".join(ch for ch in value if ch.isalnum())
    if not digits:
        return None
    return "*****" + digits[-3:]
