"""ess/plain.py: reading ESS through its driver reaches the server SQLAlchemy would reach."""

import string
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import make_url
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from ess.plain import postgresql_parameters, utc

EVERY_CHARACTER = st.text(string.printable + "é€😀\x00", max_size=30)


def _sqlalchemy(url: str) -> dict[str, object]:
    """What SQLAlchemy's psycopg dialect passes to psycopg.connect for URL."""
    _, parameters = PGDialect_psycopg().create_connect_args(make_url(url))
    parameters.pop("context", None)  # SQLAlchemy's own type adapters, not the connection's
    return dict(parameters)


@given(user=EVERY_CHARACTER, password=EVERY_CHARACTER, database=EVERY_CHARACTER)
def test_a_url_with_any_characters_quoted_gives_the_parameters_sqlalchemy_gives(
    user, password, database
):
    url = (
        f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@db.example:5433/{quote(database, safe='')}?sslmode=require&application_name=ess"
    )
    assert postgresql_parameters(url) == _sqlalchemy(url)


@given(password=st.text(string.printable.replace("@", "").replace("?", ""), max_size=30))
def test_a_password_left_unquoted_is_read_as_sqlalchemy_reads_it(password):
    # SQLAlchemy takes everything up to the last "@" as the password, "/" and ":" included.
    url = f"postgresql+psycopg://ess:{password}@127.0.0.1/ess"
    try:
        expected = _sqlalchemy(url)
    except ValueError:  # SQLAlchemy cannot read it either (a port that is not a number)
        with pytest.raises(ValueError):
            postgresql_parameters(url)
        return
    assert postgresql_parameters(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://",
        "postgresql+psycopg:///ess",
        "postgresql+psycopg://ess@/ess?host=%2Fvar%2Frun%2Fpostgresql&port=5432&x=",
        "postgresql+psycopg://ess:@[::1]:5432/ess",
        "postgresql+psycopg://ess@localhost:0/ess",
        "postgresql+psycopg://%E2%82%AC:%00@h/d%20b",
    ],
)
def test_the_odd_corners_of_a_url_give_what_sqlalchemy_gives(url):
    found = postgresql_parameters(url)
    if found is None:  # several hosts, or a host among the options: left to SQLAlchemy
        assert "host=" in url
        return
    assert found == _sqlalchemy(url)


def test_a_url_with_a_repeated_option_is_left_to_sqlalchemy():
    assert postgresql_parameters("postgresql+psycopg://h/d?options=a&options=b") is None
    assert postgresql_parameters("sqlite:///ess.db") is None


def test_a_time_is_read_as_the_utc_instant_it_was_stored_as():
    assert utc("2026-12-03 08:18:02.123456").isoformat() == "2026-12-03T08:18:02.123456+00:00"
    assert utc("2026-12-03 08:18:02").isoformat() == "2026-12-03T08:18:02+00:00"
    with pytest.raises(TypeError):
        utc(None)
