"""Per-environment settings, all read from ESS_* environment variables.

A plain reader, not pydantic-settings: `ess-sync status` may take 0.5 s in all (issue 16), and
importing pydantic-settings and building its model took 0.2 s of that. A value the reader is
not sure of goes to pydantic, so what is accepted, and every error message, stay pydantic's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PREFIX = "ESS_"


class Secret:
    """A string that prints as asterisks, as pydantic's SecretStr does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself."""
        return self._value

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _about(description: str, ge: float | None = None) -> dict[str, Any]:
    return {"description": description, "ge": ge}


@dataclass(frozen=True)
class Settings:
    """Where ESS and its cache live, and how jobs behave; read from the environment."""

    # Frozen: settings() hands the same instance to every caller until the environment changes.
    data_dir: Path = field(
        default=Path.home() / ".ess-sync",
        metadata=_about("Where the default SQLite ESS database and the demo payroll live."),
    )
    database_url: Secret | None = field(
        default=None,
        metadata=_about("SQLAlchemy URL of the ESS database; SQLite in data_dir if unset."),
    )
    cache_url: Secret | None = field(
        default=None,
        metadata=_about("redis://… to keep the ESS cache in Redis; a table in ESS if unset."),
    )

    job_lease_seconds: int = field(
        default=90, metadata=_about("A job whose heartbeat is older than this is abandoned.", ge=2)
    )
    job_timeout_seconds: int = field(
        default=1800, metadata=_about("A job's time limit, unless its database sets one.", ge=1)
    )
    retries: int = field(
        default=3, metadata=_about("Retries of a step after a transient fault.", ge=0)
    )
    retry_delay_seconds: float = field(
        default=2.0, metadata=_about("The first retry's delay; each next one doubles it.", ge=0)
    )

    confirm_timeout_seconds: int = field(
        default=3600, metadata=_about("How long a confirmed run waits for its answer.", ge=1)
    )

    def ess_url(self) -> str:
        """The ESS database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        # ESS's data (names, addresses, salaries) lives here: its owner's only.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'ess.db'}"


# Only what pydantic reads the same way: digits, with a decimal part for a float. A sign,
# blanks, "5.0", "1_000" or "1e3" are pydantic's to judge.
_PLAIN_NUMBER = {
    "int": (re.compile(r"[0-9]{1,18}"), int),
    "float": (re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?"), float),
}


def from_environment(environ: Mapping[str, str]) -> Settings:
    """Settings from ESS_* variables (any case; pydantic's ValidationError for a bad value)."""
    # As pydantic-settings does: names in any case, the last of two spellings wins.
    given = {k.lower(): v for k, v in environ.items() if k[:4].upper() == PREFIX}
    raw = {f.name: given[f"ess_{f.name}"] for f in fields(Settings) if f"ess_{f.name}" in given}
    values = {}
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value = _plain(str(f.type), raw[f.name], f.metadata["ge"])
        if value is None:
            return checked_by_pydantic(raw)
        values[f.name] = value
    return Settings(**values)


def _plain(kind: str, text: str, ge: float | None) -> Any:
    """TEXT as a value of KIND when pydantic would read it so; None when unsure."""
    if kind == "Path":
        return Path(text)
    if kind == "Secret | None":
        return Secret(text)
    pattern, convert = _PLAIN_NUMBER[kind]
    if not pattern.fullmatch(text):
        return None
    value = convert(text)
    return value if ge is None or value >= ge else None


def checked_by_pydantic(raw: Mapping[str, str]) -> Settings:
    """Settings from the variables' text (by field name) as pydantic-settings judged them."""
    from pydantic import ConfigDict, Field, SecretStr, create_model

    types: dict[str, Any] = {
        "Path": Path,
        "Secret | None": SecretStr | None,
        "int": int,
        "float": float,
    }
    definitions: dict[str, Any] = {
        f.name: (types[str(f.type)], Field(default=f.default, ge=f.metadata["ge"]))
        for f in fields(Settings)
    }
    # Named Settings: pydantic's message begins "1 validation error for Settings".
    model = create_model("Settings", __config__=ConfigDict(extra="ignore"), **definitions)
    checked = model.model_validate(dict(raw))
    values: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(checked, f.name)
        values[f.name] = Secret(value.get_secret_value()) if isinstance(value, SecretStr) else value
    return Settings(**values)


_built: dict[tuple[tuple[str, str], ...], Settings] = {}


def settings() -> Settings:
    """The settings as the environment says now (tests and callers may change it any time)."""
    # A job asks a dozen times: read the environment each time, build Settings only when
    # an ESS_ variable changed.
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k[:4].upper() == PREFIX))
    current = _built.get(key)
    if current is None:
        _built.clear()
        current = _built[key] = from_environment(os.environ)
    return current
