"""Per-environment settings, all read from ESS_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where ESS and its cache live, and how jobs behave; read from the environment."""

    # Frozen: settings() hands the same instance to every caller until the environment changes.
    model_config = SettingsConfigDict(env_prefix="ESS_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path.home() / ".ess-sync",
        description="Where the default SQLite ESS database and the demo payroll live.",
    )
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the ESS database; SQLite in data_dir if unset."
    )
    cache_url: SecretStr | None = Field(
        default=None,
        description="redis://… to keep the ESS cache in Redis; a table in ESS if unset.",
    )

    job_lease_seconds: int = Field(
        default=90, ge=2, description="A job whose heartbeat is older than this is abandoned."
    )
    job_timeout_seconds: int = Field(
        default=1800, ge=1, description="A job's time limit, unless its database sets one."
    )
    retries: int = Field(default=3, ge=0, description="Retries of a step after a transient fault.")
    retry_delay_seconds: float = Field(
        default=2.0, ge=0, description="The first retry's delay; each next one doubles it."
    )

    confirm_timeout_seconds: int = Field(
        default=3600, ge=1, description="How long a confirmed run waits for its answer."
    )

    def ess_url(self) -> str:
        """The ESS database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        # ESS's data (names, addresses, salaries) lives here: its owner's only.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'ess.db'}"


_built: dict[tuple[tuple[str, str], ...], Settings] = {}


def settings() -> Settings:
    """The settings as the environment says now (tests and callers may change it any time)."""
    # A job asks a dozen times; building Settings costs ~10 ms of CPU each time, reading
    # the environment microseconds. pydantic-settings matches ESS_ in any case: so does this.
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k[:4].upper() == "ESS_"))
    current = _built.get(key)
    if current is None:
        _built.clear()
        current = _built[key] = Settings()
    return current
