import pytest
from pydantic import ValidationError

from ess.settings import settings


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
    with pytest.raises(ValidationError):
        first.job_lease_seconds = 2  # shared by every caller: nobody may change it
    monkeypatch.setenv("ESS_JOB_LEASE_SECONDS", "41")
    assert settings() is not first
