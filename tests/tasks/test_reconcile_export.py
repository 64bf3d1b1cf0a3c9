"""The report's CSV cells: what Excel would run as a formula is written as text."""

import pytest

from tasks.reconcile_export import inert


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x","y")', "+61 2 9999", "@SUM(A1)", "\tx", "\r=1", "-x", "-=1+1"],
)
def test_a_value_excel_would_run_gets_a_leading_apostrophe(value):
    assert inert(value) == "'" + value


@pytest.mark.parametrize("value", ["Smith", "-5.00", "-12", "O'Brien", "", "a=b", 3])
def test_ordinary_values_and_negative_numbers_are_written_as_they_are(value):
    assert inert(value) == value
