"""The ESS cache of lookup lists, per payroll database: an ESS table, or Redis if configured."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ess.database import ess_engine
from ess.schema import ess_cache
from ess.settings import settings


class EssCache(Protocol):
    """Cached values, kept apart per payroll database."""

    def get(self, database: str, key: str) -> str | None:
        """The cached value, or None."""

    def put(self, database: str, key: str, value: str) -> None:
        """Cache a value."""

    def clear(self, database: str) -> int:
        """Empty one database's entries (no other's); return how many were removed."""


class TableCache:
    """The cache as a table of the ESS database (the default)."""

    def get(self, database: str, key: str) -> str | None:
        with ess_engine().connect() as conn:
            return conn.execute(
                select(ess_cache.c.value).where(
                    ess_cache.c.payroll_database == database, ess_cache.c.cache_key == key
                )
            ).scalar_one_or_none()

    def put(self, database: str, key: str, value: str) -> None:
        engine = ess_engine()
        dialect: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(ess_cache).values(
            payroll_database=database, cache_key=key, value=value, cached_at=datetime.now(UTC)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ess_cache.c.payroll_database, ess_cache.c.cache_key],
            set_={"value": stmt.excluded.value, "cached_at": stmt.excluded.cached_at},
        )
        with engine.begin() as conn:
            conn.execute(stmt)

    def clear(self, database: str) -> int:
        with ess_engine().begin() as conn:
            result = conn.execute(delete(ess_cache).where(ess_cache.c.payroll_database == database))
        return result.rowcount


class RedisCache:
    """The cache in Redis, keys `ess:cache:<database>:<key>`."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=10, decode_responses=True)

    @staticmethod
    def _key(database: str, key: str) -> str:
        # Database names cannot hold ':' (registry rule), so one database's prefix
        # never matches another's keys.
        return f"ess:cache:{database}:{key}"

    def get(self, database: str, key: str) -> str | None:
        value = self._redis.get(self._key(database, key))
        return None if value is None else str(value)

    def put(self, database: str, key: str, value: str) -> None:
        self._redis.set(self._key(database, key), value)

    def clear(self, database: str) -> int:
        removed = 0
        batch: list[str] = []
        for key in self._redis.scan_iter(match=self._key(database, "*"), count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(self._redis.delete(*batch))
                batch = []
        if batch:
            removed += int(self._redis.delete(*batch))
        return removed


def ess_cache_store() -> EssCache:
    """The cache the settings name."""
    url = settings().cache_url
    if url is not None and url.get_secret_value():
        return RedisCache(url.get_secret_value())
    return TableCache()
