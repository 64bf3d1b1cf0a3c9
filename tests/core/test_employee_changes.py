"""The employees step's decisions, on plain values: what a chunk of payroll changes in ESS."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from core.employee_changes import (
    INSERT_COLUMNS,
    UPDATED_COLUMNS,
    HeldEmployee,
    ManagerScope,
    plan_chunk,
)
from core.employee_rows import prepare_rows
from core.employees import ESS_OWNED, PAYROLL_COLUMNS, PAYROLL_OWNED, EmployeeCounts
from tests.core.test_employees import LOOKUPS

SURNAMES = st.sampled_from(["Nguyen", "Tran", "Smith"])
MOBILES = st.sampled_from([None, "0400 111 222"])
ENDS = st.sampled_from(["1900-01-01", "2024-05-01"])
payroll_rows = st.dictionaries(st.integers(1, 40), st.tuples(SURNAMES, MOBILES, ENDS), max_size=25)


def row(employee_id, code=None, surname="Nguyen", mobile=None, ends="1900-01-01", **more):
    base = dict.fromkeys(PAYROLL_COLUMNS)
    base.update(
        employee_id=employee_id,
        employee_code=code or f"E{employee_id}",
        first_name="Mia",
        surname=surname,
        mobile=mobile,
        date_hired="2019-03-04",
        termination_date=ends,
        pay_frequency_code="F",
        yearly_salary="85000.50",
        tax_free_threshold=1,
    )
    base.update(more)
    return tuple(base[c] for c in PAYROLL_COLUMNS)


def chunk_of(employees):
    return [row(i, surname=s, mobile=m, ends=e) for i, (s, m, e) in sorted(employees.items())]


def as_held(chunk, ess_id=100):
    rows = prepare_rows(chunk, LOOKUPS)
    owned = rows.owned()
    return {
        key: HeldEmployee(
            ess_id + n,
            key,
            rows.payroll_ids[n],
            True,
            rows.columns["termination_date"][n],
            owned[n],
        )
        for n, key in enumerate(rows.keys)
    }


def plan(chunk, held, duplicates=None, **ranged):
    return plan_chunk(chunk, prepare_rows(chunk, LOOKUPS), held, lambda: duplicates or {}, **ranged)


def apply(plan_, held):
    """ESS after writing the plan, as plain values."""
    ess = dict(held)
    by_id = {h.ess_id: k for k, h in ess.items()}
    for _, key in plan_.removed:
        ess[key] = ess[key]._replace(in_payroll=False)
    for n, inserted in enumerate(plan_.insert_rows(())):
        key = inserted[0]
        values = dict(zip(INSERT_COLUMNS, inserted, strict=True))
        owned = tuple(values[c] for c in PAYROLL_OWNED)
        ess[key] = HeldEmployee(-1 - n, key, values["payroll_employee_id"], True, None, owned)
    for updated in plan_.update_rows(now=None):
        values = dict(zip(UPDATED_COLUMNS, updated[1:], strict=True))
        key = by_id[updated[0]]
        ess[key] = ess[key]._replace(
            owned=tuple(values[c] for c in PAYROLL_OWNED), in_payroll=values["in_payroll"]
        )
    return ess


@given(payroll_rows)
def test_an_unchanged_source_plans_nothing(employees):
    chunk = chunk_of(employees)
    if not chunk:
        return
    p = plan(chunk, as_held(chunk), ranged=True)
    assert (p.inserts, p.updates, p.removed, p.terminated) == ((), (), (), ())
    assert p.counts.unchanged == len(chunk)


@given(payroll_rows, payroll_rows)
def test_writing_the_plan_makes_ess_hold_payrolls_owned_fields(before, after):
    old = chunk_of(before)
    held = as_held(old) if old else {}
    new = chunk_of(after)
    if not new:
        return
    ess = apply(plan(new, held, ranged=True), held)
    wanted = as_held(new)
    for key, source in wanted.items():
        assert ess[key].owned == source.owned and ess[key].in_payroll
    # Read by id range, whoever payroll no longer has is marked removed.
    assert {k for k, h in ess.items() if h.in_payroll} == set(wanted)


def test_an_update_carries_payroll_owned_fields_only_a_first_import_every_field():
    assert not set(UPDATED_COLUMNS) & set(ESS_OWNED)
    assert set(ESS_OWNED) <= set(INSERT_COLUMNS)
    held = as_held([row(1)])
    p = plan([row(1, surname="Tran", mobile="0400 111 222")], held)
    [updated] = p.update_rows(now=None)
    assert updated[0] == held["E1"].ess_id and "Tran" in updated and "0400 111 222" not in updated
    first = plan([row(1, mobile="0400 111 222")], {})
    assert first.inserts == (0,) and "0400 111 222" in first.insert_rows(())[0]


def test_an_ess_only_edit_is_not_a_change():
    held = as_held([row(1)])
    p = plan([row(1, mobile="0499 999 999")], held)
    assert p.updates == () and p.counts.unchanged == 1


def test_a_termination_date_set_by_payroll_counts_as_terminated():
    p = plan([row(1, ends="2024-05-01"), row(2, surname="Tran")], as_held([row(1), row(2)]))
    assert p.terminated == ("E1",)
    assert (p.counts.terminated, p.counts.updated) == (1, 1)


def test_a_range_read_names_employees_missing_from_the_chunk_and_those_it_holds_re_keyed():
    held = as_held([row(1), row(2), row(3)])
    p = plan([row(1), row(3)], held, removable_after=None, ranged=True)
    assert p.removed == ((held["E2"].ess_id, "E2"),) and p.moved == ()
    before_range = plan([row(3)], held, removable_after=2, ranged=True)
    assert before_range.removed == ()
    # Payroll gave E2 id 7 and E3 id 2: E2 is held by code, not missing; neither is gone.
    re_keyed = plan([row(1), row(7, code="E2"), row(2, code="E3")], held, ranged=True)
    assert re_keyed.removed == ()
    assert set(re_keyed.moved) == {held["E2"].ess_id, held["E3"].ess_id}
    # E3 given id 5, E2 not read: E2 is missing, E3 held by code under another id.
    partly = plan([row(1), row(5, code="E3")], held, ranged=True)
    assert partly.removed == ((held["E2"].ess_id, "E2"),)
    assert partly.moved == (held["E3"].ess_id,)


def test_codes_held_twice_are_rejected_and_both_named():
    p = plan([row(1, code="E9"), row(2, code="e9 "), row(3)], {}, {"E9": [1, 2]})
    assert p.inserts == (0,) and p.rows.keys == ["E3"]
    assert p.duplicates == ("E9", "E9") and p.rejected == ("E9", "E9")
    assert [i.payroll_employee_id for i in p.issues] == [1, 2]
    assert all("ids 1, 2" in i.reason and i.rejected for i in p.issues)


def test_duplicates_are_not_read_when_a_chunk_changes_nothing():
    held = as_held([row(1)])

    def unread():
        raise AssertionError("read")

    p = plan_chunk([row(1)], prepare_rows([row(1)], LOOKUPS), held, unread)
    assert p.counts.unchanged == 1


def test_a_rejected_row_is_counted_and_its_issue_kept():
    p = plan([row(1, date_hired="2023-02-30"), row(2)], {})
    assert p.rejected == ("E1",) and p.counts.rejected == 1 and p.inserts == (0,)
    assert [i.field for i in p.issues] == ["date_hired"]


def test_counts_of_chunks_add_up_and_keep_the_first_ten_samples():
    total = EmployeeCounts()
    for start in (0, 8):
        total.merge(plan([row(i) for i in range(start + 1, start + 9)], {}).counts)
    assert total.added == 16
    assert total.samples["added"] == [f"E{i}" for i in range(1, 11)]


def test_a_sync_of_changes_looks_again_at_managers_of_who_joined_or_left():
    scope = ManagerScope(everyone=False)
    held = as_held([row(1)])
    scope.note(plan([row(1, surname="Tran"), row(2)], held))
    scope.joined(["E7"])
    assert scope.read == {"E1", "E2", "E7"} and scope.joined_or_left == {"E2", "E7"}
    everyone = ManagerScope(everyone=True)
    everyone.note(plan([row(1)], {}))
    assert everyone.read == set()


def test_a_first_import_date_is_kept_as_a_date():
    p = plan([row(1, ends=date(2024, 5, 1))], {})
    assert p.rows.columns["termination_date"] == [date(2024, 5, 1)]
