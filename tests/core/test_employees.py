from datetime import date
from decimal import Decimal

from core.employees import (
    ESS_OWNED,
    PAYROLL_COLUMNS,
    PAYROLL_OWNED,
    WIDTHS,
    LookupCodes,
    duplicate_codes,
    fingerprint,
    prepare_employee,
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
        employee_id=7, employee_code="E000007 ", first_name="Mia", surname="Nguyen",
        date_hired="2019-03-04", termination_date="1900-01-01", pay_frequency_code="f",
        state_code="nsw", cost_account_code="100-admin ", yearly_salary=85000.5,
        normal_rate="43.1234", tax_file_number="123456782", bank_account_number="00123987",
        tax_free_threshold=1, last_modified="2025-06-26 10:00:00",
    )  # fmt: skip
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
    assert a.payroll_hash == b.payroll_hash


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


def test_the_fingerprint_ignores_ess_owned_fields():
    emp, _ = prepare_employee(row(), LOOKUPS)
    edited = {**emp.values, "mobile": "0400 000 000", "preferred_name": "Mimi"}
    assert fingerprint(edited) == emp.payroll_hash
    assert fingerprint({**emp.values, "surname": "Tran"}) != emp.payroll_hash


def test_the_ess_table_holds_every_field_at_the_widths_the_core_checks():
    for column in PAYROLL_OWNED + ESS_OWNED:
        assert column in employee.c
    for column, width in WIDTHS.items():
        if column in employee.c:
            assert employee.c[column].type.length == width, column
