from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.employee_rows import _text, _texts, prepare_employee, prepare_rows
from core.employees import (
    ESS_OWNED,
    NO_LOOKUPS,
    PAYROLL_COLUMNS,
    PAYROLL_OWNED,
    WIDTHS,
    LookupCodes,
    duplicate_codes,
)
from ess.schema import employee

LOOKUPS = LookupCodes(
    {
        "state": {"NSW": "NSW", "VIC": "VIC"},
        "country": {"AUS": "AUS"},
        "gender": {"F": "F", "M": "M"},
        "pay_frequency": {"F": "F"},
        "location": {"SYD": "SYD"},
        "employment_type": {"F": "F"},
        "job_classification": {},
        "cost_account": {"100-ADMIN": "100-Admin"},
        "pay_point": {},
        "super_fund": {"AUSSUP": "AUSSUP"},
    }
)


def row(**changes):
    base = dict.fromkeys(PAYROLL_COLUMNS)
    base.update(
        employee_id=7,
        employee_code="E000007 ",
        first_name="Mia",
        surname="Nguyen",
        date_hired="2019-03-04",
        termination_date="1900-01-01",
        pay_frequency_code="f",
        state_code="nsw",
        cost_account_code="100-admin ",
        yearly_salary=85000.5,
        normal_rate="43.1234",
        tax_file_number="123456782",
        bank_account_number="00123987",
        tax_free_threshold=1,
        last_modified="2025-06-26 10:00:00",
    )
    base.update(changes)
    return tuple(base[c] for c in PAYROLL_COLUMNS)


def test_codes_are_trimmed_and_matched_to_the_lookups_own_spelling():
    emp, issues = prepare_employee(row(), LOOKUPS)
    assert issues == []
    assert emp.code_key == "E000007"
    assert emp.values["state_code"] == "NSW"
    assert emp.values["cost_account_code"] == "100-Admin"
    assert emp.values["pay_frequency_code"] == "F"


def test_1900_01_01_means_not_terminated():
    emp, _ = prepare_employee(row(), LOOKUPS)
    assert emp.values["termination_date"] is None
    emp, _ = prepare_employee(row(termination_date=date(2024, 5, 1)), LOOKUPS)
    assert emp.values["termination_date"] == date(2024, 5, 1)


def test_decimals_stay_exact_whatever_the_driver_returns():
    a, _ = prepare_employee(row(yearly_salary=85000.5, normal_rate=43.1234), LOOKUPS)
    b, _ = prepare_employee(
        row(yearly_salary=Decimal("85000.50"), normal_rate=Decimal("43.1234")), LOOKUPS
    )
    assert a.values["yearly_salary"] == Decimal("85000.50")
    assert a.owned() == b.owned()


def test_secrets_leave_only_masked():
    emp, _ = prepare_employee(row(), LOOKUPS)
    assert emp.values["tax_file_number_masked"] == "*****782"
    assert emp.values["bank_account_masked"] == "*****987"
    assert "123456782" not in repr(emp) and "00123987" not in repr(emp)


def test_an_impossible_hire_date_rejects_and_names_field_and_value():
    emp, [issue] = prepare_employee(row(date_hired="2023-02-30"), LOOKUPS)
    assert emp is None
    assert issue.message() == (
        "Rejected employee E000007: date_hired '2023-02-30' is not a possible date."
    )


def test_an_impossible_birth_date_imports_with_a_warning():
    emp, [issue] = prepare_employee(row(date_of_birth="1990-13-01"), LOOKUPS)
    assert emp is not None and emp.values["date_of_birth"] is None
    assert not issue.rejected


def test_an_unknown_optional_lookup_code_imports_with_the_field_empty():
    emp, [issue] = prepare_employee(row(location_code="ZZZ"), LOOKUPS)
    assert emp.values["location_code"] is None
    assert issue.message() == (
        "Warning for employee E000007: location_code 'ZZZ' is not a known location code."
    )


def test_an_unknown_pay_frequency_rejects():
    emp, [issue] = prepare_employee(row(pay_frequency_code="Q"), LOOKUPS)
    assert emp is None and issue.rejected and issue.field == "pay_frequency_code"


def test_a_payroll_owned_value_too_long_rejects_an_ess_owned_one_warns():
    emp, [issue] = prepare_employee(row(surname="X" * 51), LOOKUPS)
    assert emp is None and "longer than ESS allows (51 > 50)" in issue.reason
    emp, [issue] = prepare_employee(row(mobile="0" * 21), LOOKUPS)
    assert emp is not None and not issue.rejected and emp.values["mobile"] is None


def test_codes_held_twice_are_found_whatever_their_case_or_padding():
    assert duplicate_codes([(1, "E1"), (2, "e1 "), (3, "E2")]) == {"E1": [1, 2]}


def test_what_a_sync_compares_ignores_ess_owned_fields():
    emp, _ = prepare_employee(row(), LOOKUPS)
    edited, _ = prepare_employee(row(mobile="0400 000 000", preferred_name="Mimi"), LOOKUPS)
    renamed, _ = prepare_employee(row(surname="Tran"), LOOKUPS)
    assert edited.owned() == emp.owned()
    assert renamed.owned() != emp.owned()


# One row of each kind prepare_employee tells apart: clean, warned, rejected.
KINDS = [
    {},
    {"employee_code": None},
    {"employee_code": "  "},
    {"date_hired": "2019-02-30"},
    {"date_hired": None},
    {"date_of_birth": "1990-13-01"},
    {"gender_code": "x"},
    {"pay_frequency_code": "Z"},
    {"first_name": "a" * 60},
    {"title": "x" * 20},
    {"yearly_salary": "abc"},
    {"tax_file_number": " 12 34 "},
    {"tax_file_number": ""},
    {"bank_account_number": "  "},
    {"manager_code": " e1 "},
    {"date_hired": date(2020, 1, 2), "termination_date": date(1900, 1, 1)},
    {"yearly_salary": Decimal("12.5"), "normal_rate": Decimal("1.23456")},
    {"cost_account_code": "100-ADMIN"},
    {"termination_date": "2024-01-01 00:00:00"},
    {"surname": "X" * 51},
    {"location_code": "ZZZ"},
]


def _one_by_one(rows):
    accepted, issues = [], []
    for r in rows:
        emp, found = prepare_employee(r, LOOKUPS)
        issues += found
        if emp is not None:
            accepted.append((emp.code_key, emp.payroll_employee_id, emp.values))
    return accepted, issues


def _as_chunk(prepared):
    return [
        (key, payroll_id, {c: prepared.columns[c][n] for c in prepared.columns})
        for n, (key, payroll_id) in enumerate(zip(prepared.keys, prepared.payroll_ids, strict=True))
    ]


def test_a_chunk_is_prepared_exactly_as_row_by_row():
    rows = [
        row(employee_id=n, **({"employee_code": f"E{n}"} | kind)) for n, kind in enumerate(KINDS)
    ]
    # Clean rows take the column-wise path; the others are told apart one by one.
    rows += [row(employee_id=100 + n, employee_code=f"C{n}") for n in range(5)]
    accepted, issues = _one_by_one(rows)
    prepared = prepare_rows(rows, LOOKUPS)
    assert _as_chunk(prepared) == accepted
    assert sorted(map(repr, prepared.issues)) == sorted(map(repr, issues))
    assert len(prepared.codes) == len(rows)
    assert len(prepared.rejected_keys) == len(rows) - len(accepted) == 8


def test_a_chunk_of_driver_typed_values_takes_the_column_wise_path_unchanged():
    typed = {
        "date_hired": date(2019, 3, 4),
        "termination_date": date(1900, 1, 1),
        "yearly_salary": Decimal("85000.50"),
        "normal_rate": Decimal("43.1234"),
    }
    rows = [row(employee_id=n, employee_code=f"E{n}", **typed) for n in range(50)]
    prepared = prepare_rows(rows, LOOKUPS)
    assert _as_chunk(prepared) == _one_by_one(rows)[0] and not prepared.issues


def test_a_declared_width_no_wider_than_ess_skips_only_that_columns_check():
    # An engine that declares mobile VARCHAR(20) cannot hold 21 characters: not looked at.
    rows = [row(employee_id=1, surname="X" * 51), row(employee_id=2, mobile="0" * 21)]
    prepared = prepare_rows(rows, LOOKUPS, {"surname": 200, "mobile": 20})
    assert [(i.payroll_employee_id, i.field) for i in prepared.issues] == [(1, "surname")]
    assert prepared.payroll_ids == [2]


def test_the_ess_table_holds_every_field_at_the_widths_the_core_checks():
    for column in PAYROLL_OWNED + ESS_OWNED:
        assert column in employee.c
    for column, width in WIDTHS.items():
        if column in employee.c:
            assert employee.c[column].type.length == width, column


def test_a_number_ess_cannot_hold_rejects_naming_its_own_field_never_its_value():
    for changes, field, reason in [
        ({"yearly_salary": 1e13}, "yearly_salary", "is larger than ESS allows (10 digits"),
        ({"yearly_salary": "Infinity"}, "yearly_salary", "is not a number"),
        ({"normal_rate": "NaN"}, "normal_rate", "is not a number"),
        ({"normal_rate": "<b>12</b>"}, "normal_rate", "is not a number"),
    ]:
        emp, [issue] = prepare_employee(row(**changes), LOOKUPS)
        assert emp is None and issue.field == field and issue.reason.startswith(reason)
        assert str(next(iter(changes.values()))) not in issue.message()
    emp, issues = prepare_employee(row(yearly_salary=Decimal("9999999999.99")), LOOKUPS)
    assert emp is not None and not issues


_WHITESPACE_OR_TEXT = st.text(alphabet=" \t\n\u00a0\u3000abcÉ-1", max_size=6)


@given(
    st.one_of(
        st.lists(_WHITESPACE_OR_TEXT, max_size=30),  # a column of text throughout
        st.lists(
            st.one_of(_WHITESPACE_OR_TEXT, st.none(), st.integers(), st.decimals(allow_nan=False)),
            max_size=30,
        ),
    )
)
def test_a_text_column_is_trimmed_as_each_value_alone_whatever_it_holds(values):
    """A column of text is stripped in one pass; one holding anything else value by value.
    Both give what each value alone gives: trimmed text (Unicode spaces too), None when empty."""
    assert _texts(values) == [_text(v) for v in values]


def test_a_step_that_reads_no_employee_may_not_resolve_a_code():
    # tasks.employees reads no lookup code for a sync the feed names no one; a path that
    # prepared rows all the same would reject every code as unknown, silently.
    with pytest.raises(AssertionError, match="reads no employee"):
        NO_LOOKUPS.resolve("country", "AUS")
