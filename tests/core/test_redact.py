"""Redaction by parsing: the core reads URLs as SQLAlchemy does, ODBC strings by their grammar."""

import string
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.redact import (
    REDACTED,
    connection_secrets,
    is_secret_key,
    mask_number,
    parse_odbc,
    parse_url,
    redact_connection,
    redact_odbc,
    redact_url,
    scrub,
    split_odbc,
)


def test_a_url_password_is_never_shown():
    shown = redact_url("postgresql+psycopg://payroll:S3cr3t!@db.acme.local:5432/acme")
    assert "S3cr3t" not in shown
    assert shown == "postgresql+psycopg://payroll:***@db.acme.local:5432/acme"


def test_a_url_without_password_is_shown_whole():
    assert redact_url("sqlite:////var/ess/payroll.db") == "sqlite:////var/ess/payroll.db"


def test_a_password_in_a_url_query_is_redacted():
    shown = redact_url("mssql+pyodbc://@dsn?odbc_connect=DRIVER%3Dx%3BPWD%3Dhunter2&x=1")
    assert "hunter2" not in shown


def test_an_odbc_password_is_redacted_even_in_braces():
    cs = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql1;UID=ess;PWD={pa;ss}}word};Encrypt=yes"
    assert dict(split_odbc(cs))["PWD"] == "pa;ss}word"
    shown = redact_odbc(cs)
    assert "pa;ss" not in shown and "word" not in shown
    assert "SERVER=sql1" in shown and "PWD=***" in shown


@given(st.text(alphabet="abcXYZ019!@#", min_size=4, max_size=20))
def test_no_odbc_password_survives_redaction(password):
    cs = f"Driver={{SQL Server}};Server=s;Pwd={{{password.replace('}', '}}')}}};Database=d"
    assert f"={password}" not in redact_odbc(cs).replace("Pwd=***", "")


def test_scrub_removes_every_secret():
    assert scrub("failed for x:hunter2@db", ["hunter2"]) == "failed for x:***@db"


def test_a_protected_number_keeps_only_its_last_three_digits():
    assert mask_number("123456782") == "*****782"
    assert mask_number(None) is None


# Any printable character a person can type, ASCII or not (no control characters: a
# terminal cannot type them into a password prompt, and ODBC drivers refuse them).
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from(string.printable)
# A marker makes the secret distinctive: "a" alone appears in any text by chance.
MARKER = "Zq7xK"
passwords = st.text(PRINTABLE, min_size=1, max_size=24).map(lambda s: MARKER + s)
URL_TAIL = st.sampled_from(
    ["@db.acme.local/payroll", "@127.0.0.1:5432/db?sslmode=require", "@[::1]:5432/x", "@h"]
)


def _sqlalchemy(url):
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


@settings(max_examples=400)
@given(st.text(PRINTABLE, max_size=40), st.sampled_from(["postgresql+psycopg://", "mssql://"]))
@example("u:p@ss@host/db", "postgresql://")
@example("u:Super/Secret123@host/db", "postgresql+psycopg://")
@example("u:x@h:notaport/db", "postgresql://")
@example("u:x@h/db?a=1\nb", "postgresql://")
def test_the_core_reads_a_url_as_sqlalchemys_make_url_does(rest, scheme):
    url = scheme + rest
    ours, theirs = parse_url(url), _sqlalchemy(url)
    if ours is None:
        shown = redact_connection("url", url)
        assert shown == REDACTED or (theirs is not None and "\n" in url)
        return
    assert theirs is not None
    assert (ours.username, ours.password) == (theirs.username, theirs.password)
    for key, value, written in ours.query:
        if "=" in written and value:  # parse_qsl drops the others (shown as *** by us)
            assert value == theirs.query[key] or value in theirs.query[key]


@settings(max_examples=300)
@given(passwords, st.text(string.ascii_letters, min_size=1, max_size=8), URL_TAIL)
def test_a_percent_encoded_url_password_of_any_characters_is_never_shown(password, user, tail):
    url = f"postgresql+psycopg://{user}:{quote(password, safe='')}{tail}"
    assert make_url(url).password == password
    shown = redact_connection("url", url)
    assert MARKER not in shown and shown.startswith(f"postgresql+psycopg://{user}:***@")
    assert password in connection_secrets("url", url)
    assert redact_connection("url", shown) == shown  # a redacted string stays as it is


@settings(max_examples=300)
@given(passwords, URL_TAIL)
def test_a_raw_url_password_is_never_shown_whatever_make_url_makes_of_it(password, tail):
    url = f"postgresql+psycopg://u:{password}{tail}"
    shown = redact_connection("url", url)
    assert MARKER not in shown
    secrets = connection_secrets("url", url)
    if _sqlalchemy(url) is not None and make_url(url).password == password:
        assert password in secrets
    # Whatever SQLAlchemy would send as the password is scrubbed from error messages.
    theirs = _sqlalchemy(url)
    if theirs is not None and theirs.password:
        assert theirs.password in secrets


def _braced(value):
    return "{" + value.replace("}", "}}") + "}"


@settings(max_examples=300)
@given(
    passwords,
    st.sampled_from(["PWD", "Password", "sslpassword", "AccessToken", "ApiKey", "KeyStoreSecret"]),
)
def test_an_odbc_secret_of_any_characters_is_never_shown(password, key):
    odbc = f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=sql1;UID=ess;{key}={_braced(password)}"
    assert dict(split_odbc(odbc))[key] == password
    shown = redact_connection("odbc", odbc)
    assert MARKER not in shown
    assert shown.endswith(f"{key}=***") and "SERVER=sql1" in shown
    assert password in connection_secrets("odbc", odbc)
    assert redact_connection("odbc", shown) == shown


@pytest.mark.parametrize(
    "odbc",
    ["PWD={never closed", "PWD={x}trailing;UID=u", "SERVER=s;PWD=a{b", "just some text", "=x"],
)
def test_what_does_not_parse_as_odbc_is_shown_as_stars(odbc):
    assert parse_odbc(odbc) is None
    assert redact_connection("odbc", odbc) == REDACTED


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("PWD", True),
        ("Password", True),
        ("sslpassword", True),
        ("AccessToken", True),
        ("ApiKey", True),
        ("Client_Secret", True),
        ("sslkey", True),
        ("KeyStoreSecret", True),
        ("KeyStoreAuthentication", False),
        ("KeyStorePrincipalId", False),
        ("UID", False),
        ("Authentication", False),
        ("SERVER", False),
    ],
)
def test_which_keys_hold_a_secret(key, secret):
    assert is_secret_key(key) is secret


def test_a_password_with_a_url_reserved_character_is_never_shown():
    shown = redact_connection("url", "postgresql+psycopg://u:Super/Secret123@host/db")
    assert shown == "postgresql+psycopg://u:***@host/db"


def test_a_raw_at_sign_in_a_password_hides_the_whole_address():
    url = "postgresql+psycopg://u:pa@ss@host/db"
    assert redact_connection("url", url) == "postgresql+psycopg://***"
    assert "pa@ss" in connection_secrets("url", url)


def test_secret_query_values_and_an_odbc_connect_password_are_redacted():
    url = "mssql+pyodbc://@dsn?odbc_connect=DRIVER%3Dx%3BPWD%3D%7Bh%3Bunter2%7D&sslpassword=s%2B1"
    shown = redact_connection("url", url)
    assert shown == "mssql+pyodbc://@dsn?odbc_connect=DRIVER%3Dx%3BPWD%3D***&sslpassword=***"
    assert {"h;unter2", "s+1"} <= set(connection_secrets("url", url))


def test_an_unparseable_url_is_shown_as_stars():
    assert redact_connection("url", "not a url at all: hunter2") == REDACTED
    assert redact_connection("url", "postgresql://u:pw@h:notaport/db") == REDACTED
