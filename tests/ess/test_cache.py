"""The ESS cache: clearing one database's entries leaves every other's, in a table or Redis."""

import uuid

import pytest

from ess.store.cache import RedisCache, TableCache, ess_cache_store
from tests.conftest import REDIS_URL


def _check_clear_is_per_database(cache):
    mine, other = f"acme_{uuid.uuid4().hex[:8]}", f"beta_{uuid.uuid4().hex[:8]}"
    cache.put(mine, "lookup:state", '["NSW"]')
    cache.put(mine, "lookup:country", '["AUS"]')
    cache.put(other, "lookup:state", '["VIC"]')
    assert cache.get(mine, "lookup:state") == '["NSW"]'
    assert cache.clear(mine) == 2
    assert cache.get(mine, "lookup:state") is None
    assert cache.get(other, "lookup:state") == '["VIC"]'
    assert cache.clear(other) == 1


def test_the_table_cache_clears_one_database_only(ess):
    _check_clear_is_per_database(TableCache())


@pytest.mark.redis
def test_the_redis_cache_clears_one_database_only(monkeypatch):
    monkeypatch.setenv("ESS_CACHE_URL", REDIS_URL)
    cache = ess_cache_store()
    assert isinstance(cache, RedisCache)
    _check_clear_is_per_database(cache)


@pytest.mark.redis
def test_a_sync_clears_the_redis_cache_of_its_database(
    ess, payroll_sqlite, prefect_api, monkeypatch
):
    from ess.store.log import read_log
    from ess.store.registry import register_database
    from flows.sync_from_payroll import sync_from_payroll
    from tests.support import fill_lookups

    monkeypatch.setenv("ESS_CACHE_URL", REDIS_URL)
    name = f"redis_{uuid.uuid4().hex[:8]}"
    fill_lookups(payroll_sqlite)
    register_database(name, url=payroll_sqlite)
    cache = RedisCache(REDIS_URL)
    cache.put(name, "lookup:state", "[]")
    cache.put("untouched_payroll", "lookup:state", "[]")
    assert sync_from_payroll(database=name, return_state=True).is_completed()
    assert "Cleared cache: 1 entry removed." in [r.message for r in read_log(name)]
    assert cache.get("untouched_payroll", "lookup:state") == "[]"
    cache.clear("untouched_payroll")
