"""Keeping secrets out of what people read: connection strings and protected numbers.

Connections are redacted by parsing them, never by patterns over their text: a URL is read
the way SQLAlchemy's `make_url` reads it, an ODBC string by the ODBC grammar (`;`-separated
`KEY=value` pairs, values optionally in braces with `}}` for a `}`). What does not parse,
or parses ambiguously, is shown as `***` whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, unquote, unquote_plus

REDACTED = "***"

# The pattern of sqlalchemy.engine.url._parse_url (SQLAlchemy 2.0), copied because the
# core may not import SQLAlchemy (nor may ess/plain.py, which connects by it);
# tests/core/test_redact.py proves the two agree.
_SQLALCHEMY_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)
# A key naming a secret holds one of these (compared lower-case, without spaces, - and _).
_SECRET_MARKS = ("pwd", "passw", "secret", "token", "key", "credential")
# Plain names that merely contain a mark: SQL Server's Always Encrypted key-store settings
# name a method and a client id; the secret itself goes in KeyStoreSecret.
_PLAIN_NAMES = frozenset({"keystoreauthentication", "keystoreprincipalid"})
# SQL Server and pyodbc URLs carry a whole ODBC string in this query parameter.
_ODBC_IN_URL = "odbc_connect"


@dataclass(frozen=True)
class OdbcPair:
    """One KEY=value of an ODBC connection string: the value decoded and as written."""

    key: str
    value: str
    written: str


@dataclass(frozen=True)
class UrlParts:
    """A SQLAlchemy URL split the way `make_url` splits it (password and query decoded)."""

    scheme: str
    username: str | None
    written_username: str | None
    password: str | None
    written_password: str | None
    address: str  # host, port and database exactly as written
    query: tuple[tuple[str, str, str], ...]  # (key, value, as written), decoded like parse_qsl
    has_query: bool


def is_secret_key(key: str) -> bool:
    """Whether a connection key (ODBC keyword or URL query name) holds a secret."""
    name = re.sub(r"[\s_-]", "", key).lower()
    return name not in _PLAIN_NAMES and any(mark in name for mark in _SECRET_MARKS)


def match_whole_url(text: str) -> re.Match[str] | None:
    """SQLAlchemy's URL pattern matched against all of TEXT; None if it leaves some unread.

    make_url ignores what its pattern leaves unread (after a newline in the query): such a
    URL is neither shown in part nor connected to but by SQLAlchemy itself.
    """
    match = _SQLALCHEMY_URL.match(text)
    return match if match is not None and match.end() == len(text) else None


def parse_url(text: str) -> UrlParts | None:
    """The URL's parts as SQLAlchemy's `make_url` reads them; None if it would refuse it."""
    match = match_whole_url(text)
    if match is None:
        return None
    port = match.group("port")
    try:
        int(port if port is not None else 0)
    except ValueError:
        return None  # make_url's int(port) raises (on an empty port too)
    user, written = match.group("username"), match.group("password")
    address_start = len(match.group("name")) + 3
    if user is not None:
        address_start += len(user) + 1 + (0 if written is None else len(written) + 1)
    query_text = match.group("query")
    address_end = len(text) if query_text is None else match.start("query") - 1
    return UrlParts(
        scheme=match.group("name"),
        username=None if user is None else unquote(user),
        written_username=user,
        password=None if written is None else unquote(written),
        written_password=written,
        address=text[address_start:address_end],
        query=_query_pairs(query_text or ""),
        has_query=query_text is not None,
    )


def _query_pairs(query: str) -> tuple[tuple[str, str, str], ...]:
    # As urllib.parse.parse_qsl reads it (make_url's way): '&'-separated, '+' is a space.
    pairs = []
    for part in query.split("&"):
        if part:
            key, equals, value = part.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value) if equals else "", part))
    return tuple(pairs)


def parse_odbc(text: str) -> list[OdbcPair] | None:
    """The KEY=value pairs of an ODBC connection string; None if it is not one."""
    pairs: list[OdbcPair] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in "; \t":
            i += 1
            continue
        equals = text.find("=", i)
        key = text[i:equals].strip() if equals >= 0 else ""
        if not key or any(c in key for c in ";{}"):
            return None
        j = equals + 1
        while j < n and text[j] in " \t":
            j += 1
        if j < n and text[j] == "{":
            value, j = _braced(text, j)
            if value is None:
                return None
            rest = text.find(";", j)
            end = n if rest < 0 else rest
            if text[j:end].strip():  # text after the closing brace: not ODBC
                return None
        else:
            rest = text.find(";", j)
            end = n if rest < 0 else rest
            value = text[j:end].strip()
            if any(c in value for c in "{}"):
                return None
        pairs.append(OdbcPair(key, value, text[equals + 1 : end].strip()))
        i = end + 1
    return pairs


def _braced(text: str, start: int) -> tuple[str | None, int]:
    # ODBC: a braced value runs to the first '}' not doubled; '}}' is one '}'.
    chars: list[str] = []
    j = start + 1
    while j < len(text):
        if text[j] == "}":
            if text[j + 1 : j + 2] == "}":
                chars.append("}")
                j += 2
                continue
            return "".join(chars), j + 1
        chars.append(text[j])
        j += 1
    return None, j


def split_odbc(connection_string: str) -> list[tuple[str, str]]:
    """The KEY=value pairs of an ODBC connection string, braces understood ([] if not one)."""
    return [(p.key, p.value) for p in parse_odbc(connection_string) or []]


def redact_odbc(connection_string: str) -> str:
    """An ODBC connection string with every secret value replaced; `***` if it is not one."""
    pairs = parse_odbc(connection_string)
    if pairs is None:
        return REDACTED
    return ";".join(f"{p.key}={REDACTED if is_secret_key(p.key) else p.written}" for p in pairs)


def redact_url(url: str) -> str:
    """A SQLAlchemy URL with its password and secret query values replaced; `***` if unsure."""
    parts = parse_url(url)
    if parts is None:
        return REDACTED
    if parts.password is not None and _ambiguous(url, parts):
        return f"{parts.scheme}://{REDACTED}"
    user = ""
    if parts.written_username is not None:
        user = parts.written_username + (f":{REDACTED}@" if parts.password is not None else "@")
    shown = f"{parts.scheme}://{user}{parts.address}"
    if parts.has_query:
        shown += "?" + "&".join(_shown_query_part(*pair) for pair in parts.query)
    return shown


def _ambiguous(url: str, parts: UrlParts) -> bool:
    # A second '@' after a password: the password held a raw '@' that make_url took for
    # its end, so part of it now looks like the host or the query. Show none of it.
    return "@" in url[len(parts.scheme) + 3 :].split("@", 1)[1]


def _shown_query_part(key: str, value: str, written: str) -> str:
    if "=" not in written:
        return REDACTED  # make_url drops it; what it is cannot be known
    if key.lower() == _ODBC_IN_URL:
        return f"{written.split('=', 1)[0]}={quote_plus(redact_odbc(value), safe='*')}"
    return f"{written.split('=', 1)[0]}={REDACTED}" if is_secret_key(key) else written


def connection_kind(connection: str) -> str:
    """'url' or 'odbc': what a connection string of unknown kind looks like."""
    return "url" if "://" in connection else "odbc"


def redact_connection(kind: str | None, connection: str) -> str:
    """A connection string (SQLAlchemy URL or ODBC string) fit to show: secrets replaced.

    The one redaction used by the CLI, the page, the support bundle and error messages; it
    also leaves an already redacted string as it is.
    """
    kind = kind or connection_kind(connection)
    return redact_url(connection) if kind == "url" else redact_odbc(connection)


def connection_secrets(kind: str | None, connection: str) -> list[str]:
    """Every secret in a connection string (as written and decoded), and the string if any."""
    kind = kind or connection_kind(connection)
    found: list[str] = []
    if kind == "url":
        parts = parse_url(connection)
        if parts is not None:
            found += [parts.written_password or "", parts.password or ""]
            if parts.password is not None and _ambiguous(connection, parts):
                # The password as its owner meant it: up to the last '@' (see redact_url).
                meant = connection.split("://", 1)[1].split(":", 1)[1].rsplit("@", 1)[0]
                found += [meant, unquote(meant)]
            for key, value, written in parts.query:
                if key.lower() == _ODBC_IN_URL:
                    found += connection_secrets("odbc", value)
                elif is_secret_key(key):
                    found += [value, written.partition("=")[2]]
    else:
        for pair in parse_odbc(connection) or []:
            if is_secret_key(pair.key):
                found.append(pair.value)
    # A string with nothing secret in it (a SQLite path) stays readable; one that cannot be
    # read may hold anything, so all of it is secret.
    whole = redact_connection(kind, connection) != connection
    return _distinct(([connection] if whole else []) + found)


def spellings(secret: str) -> list[str]:
    """The ways a secret may be written: as is, URL-encoded, ODBC-braced, in a Python repr."""
    # SQLAlchemy's own render quotes only ':', '@' and '/'; quote() and quote_plus() are how
    # people encode a password by hand.
    return _distinct(
        [
            secret,
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
            re.sub(r"[:@/]", lambda m: f"%{ord(m.group()):X}", secret),
            "{" + secret.replace("}", "}}") + "}",
            repr(secret)[1:-1],
        ]
    )


def scrub(text: str, secrets: list[str]) -> str:
    """Text with every occurrence of the given secrets, in any of their spellings, replaced."""
    every = {form for secret in secrets if secret for form in spellings(secret)}
    for secret in sorted(every, key=len, reverse=True):
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


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))
