"""The page's own settings, read from ESS_UI_* environment variables."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Long enough that guessing at the login limits' pace (web/security.py) cannot succeed.
MIN_PASSWORD_LENGTH = 12


class UiNotConfigured(RuntimeError):
    """The page cannot start: its administrator password is unset or too short."""


class UiSettings(BaseSettings):
    """Who may use the page and how it starts jobs."""

    model_config = SettingsConfigDict(env_prefix="ESS_UI_", extra="ignore")

    password: SecretStr | None = Field(
        default=None, description="The administrator password (or token) the login form asks for."
    )
    runner: Literal["auto", "local", "prefect"] = Field(
        default="auto",
        description=(
            "How a Sync button starts a job: `prefect` through the deployment, `local` as a "
            "background `ess-sync` process here, `auto` = prefect when PREFECT_API_URL is set."
        ),
    )
    session_hours: float = Field(default=12, gt=0, description="How long a login lasts.")
    preview_timeout_seconds: float = Field(
        default=600, gt=0, description="How long a preview may take before the page gives up."
    )

    def checked_password(self) -> str:
        """The password; UiNotConfigured with what to do when it is unset or too short."""
        secret = self.password.get_secret_value() if self.password is not None else ""
        if not secret.strip():
            raise UiNotConfigured(
                "Set ESS_UI_PASSWORD to the administrator password before starting the page, "
                "e.g. `ESS_UI_PASSWORD='…' ess-sync ui`: the page never runs without a login."
            )
        if len(secret) < MIN_PASSWORD_LENGTH:
            raise UiNotConfigured(
                f"ESS_UI_PASSWORD has {len(secret)} characters but the page needs at least "
                f"{MIN_PASSWORD_LENGTH}: choose a longer password or passphrase."
            )
        return secret

    def uses_prefect(self) -> bool:
        """True when jobs start through the Prefect deployments rather than a local process."""
        if self.runner == "auto":
            return bool(os.environ.get("PREFECT_API_URL"))
        return self.runner == "prefect"
