"""Lookup lists as the ESS portal reads them: through the per-database cache."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from core.lookups import LookupSpec
from ess.database import ess_engine
from ess.schema import table_of
from ess.store.cache import ess_cache_store


def lookup_list(database: str, spec: LookupSpec) -> list[dict[str, Any]]:
    """The active rows of one lookup, from the cache or, on a miss, ESS (then cached)."""
    cache = ess_cache_store()
    key = f"lookup:{spec.ess_table}"
    cached = cache.get(database, key)
    if cached is not None:
        rows: list[dict[str, Any]] = json.loads(cached)
        return rows
    table = table_of(spec)
    with ess_engine().connect() as conn:
        result = conn.execute(
            select(*[table.c[c] for c in spec.columns])
            .where(table.c.payroll_database == database, table.c.in_payroll.is_(True))
            .order_by(*[table.c[c] for c in spec.key])
        )
        rows = [dict(r._mapping) for r in result]
    cache.put(database, key, json.dumps(rows, default=str))
    return rows
