"""The digests ESS keeps of a payroll's leave balances read back exactly as written, on SQLite
and PostgreSQL, whatever their number against the slices PostgreSQL's are read in."""

from array import array

import pytest

from core.balance_digests import NO_DIGEST, Digests
from ess.database import ess_engine
from ess.store import leave_balances
from ess.store.leave_balances import keep_digests, stored_digests


def _digests(ids, rows, digests, kept=None):
    return Digests(
        ids=array("i", ids),
        digests=array("q", digests),
        rows=array("i", rows),
        kept=array("i", rows if kept is None else kept),
    )


def _read(database):
    with ess_engine().begin() as conn:
        held = stored_digests(conn, database)
        if held is None:
            return None
        ids, kept, digests = [], [], []
        for part in held:
            ids += part.ids
            kept += part.kept
            digests += part.digests
    return ids, kept, digests


@pytest.mark.parametrize("slice_employees", [2, 5, 1 << 17])
def test_digests_read_back_as_kept_in_slices_and_at_the_extremes(ess, monkeypatch, slice_employees):
    # Slices of 2 leave a last one of 1; 5 is one slice of all.
    monkeypatch.setattr(leave_balances, "READ_SLICE", slice_employees)
    ids = [-(2**31), -1, 0, 7, 2**31 - 1]
    values = [-(2**63), -1, 0, 2**40 + 3, 2**63 - 1]
    kept = _digests(ids, [1, 2, 3, 4, 5], values, kept=[1, 0, 3, 4, 5])
    with ess_engine().begin() as conn:
        keep_digests(conn, "acme", kept)
        keep_digests(conn, "other", _digests([1], [1], [99]))
    # Employee -1 kept none of its two balances: its digest is not kept.
    assert _read("acme") == (ids, [1, NO_DIGEST, 3, 4, 5], values)
    assert _read("other") == ([1], [1], [99])
    assert _read("nobody") is None


def test_new_digests_replace_the_old_and_none_at_all_read_back_empty(ess):
    many = range(1, 3001)
    with ess_engine().begin() as conn:
        keep_digests(conn, "acme", _digests(many, [8] * 3000, [n * 31 for n in many]))
    assert _read("acme") == (list(many), [8] * 3000, [n * 31 for n in many])
    with ess_engine().begin() as conn:
        keep_digests(conn, "acme", _digests([], [], []))
    assert _read("acme") == ([], [], [])
