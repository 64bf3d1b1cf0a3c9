"""The project's own payroll generator: seeded, realistic payroll databases for tests."""

from generator.payroll import (
    PayrollSummary,
    add_hard_cases,
    build_payroll,
    build_payroll_file,
    change_employees,
    create_payroll_schema,
)

__all__ = [
    "PayrollSummary",
    "add_hard_cases",
    "build_payroll",
    "build_payroll_file",
    "change_employees",
    "create_payroll_schema",
]
