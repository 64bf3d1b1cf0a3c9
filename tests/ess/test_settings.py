import dataclasses

import pytest
from pydantic import ValidationError

from ess.settings import checked_by_pydantic, from_environment, settings


def test_the_settings_follow_the_environment_each_time_it_changes(monkeypatch):
    monkeypatch.setenv("ESS_RETRIES", "5")
    assert settings().retries == 5
    monkeypatch.setenv("ESS_RETRIES", "1")
    assert settings().retries == 1
    monkeypatch.delenv("ESS_RETRIES")
    assert settings().retries == 3


def test_settings_are_built_once_while_the_environment_stays_the_same(monkeypatch):
    monkeypatch.setenv("ESS_JOB_LEASE_SECONDS", "40")
    first = settings()
    assert settings() is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.job_lease_seconds = 2  # shared by every caller: nobody may change it
    monkeypatch.setenv("ESS_JOB_LEASE_SECONDS", "41")
    assert settings() is not first


# What the plain reader takes itself, and what it leaves to pydantic: the answers must agree.
ENVIRONMENTS = [
    {},
    {"ESS_RETRIES": "5", "ESS_RETRY_DELAY_SECONDS": "0.5", "ESS_JOB_LEASE_SECONDS": "2"},
    {"ess_retries": "4"},
    {"ESS_RETRIES": "2", "ess_retries": "6"},
    {"ESS_RETRIES": " 5 "},
    {"ESS_RETRIES": "5.0"},
    {"ESS_RETRIES": "1_000"},
    {"ESS_RETRIES": "007"},
    {"ESS_RETRIES": "+3"},
    {"ESS_RETRY_DELAY_SECONDS": "1e-3"},
    {"ESS_RETRY_DELAY_SECONDS": ".5"},
    {"ESS_RETRY_DELAY_SECONDS": "inf"},
    {"ESS_DATA_DIR": ""},
    {"ESS_DATA_DIR": "~/ess data"},
    {"ESS_DATABASE_URL": "postgresql+psycopg://ess:pw@db/ess", "ESS_CACHE_URL": ""},
    {"ESS_UNKNOWN": "x", "ESS_UI_PASSWORD": "y", "PATH": "/bin"},
]


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_the_plain_reader_reads_each_variable_as_pydantic_does(environ):
    expected = checked_by_pydantic(
        {k[4:].lower(): v for k, v in environ.items() if k[:4].upper() == "ESS_"}
    )
    assert from_environment(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ESS_RETRIES": "-1"}, "retries\n  Input should be greater than or equal to 0"),
        ({"ESS_RETRIES": ""}, "retries\n  Input should be a valid integer, unable to parse"),
        ({"ESS_RETRIES": "5.5"}, "retries\n  Input should be a valid integer"),
        ({"ESS_JOB_LEASE_SECONDS": "1"}, "job_lease_seconds\n  Input should be greater than or"),
        ({"ESS_RETRY_DELAY_SECONDS": "nan"}, "retry_delay_seconds\n  Input should be greater"),
        ({"ESS_RETRY_DELAY_SECONDS": "x"}, "retry_delay_seconds\n  Input should be a valid number"),
    ],
)
def test_a_bad_value_is_refused_with_pydantics_message(environ, message):
    with pytest.raises(ValidationError) as refused:
        from_environment(environ)
    assert str(refused.value).startswith(f"1 validation error for Settings\n{message}")
