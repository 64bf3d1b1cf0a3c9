"""The payroll files vendored in generator/ are the shared payroll contract's, unchanged."""

from pathlib import Path

import pytest

from tests.support import REPO, SHARED_SCHEMA, VENDORED_SCHEMA

SHARED = SHARED_SCHEMA.parent
VENDORED = {
    VENDORED_SCHEMA: SHARED_SCHEMA,
    REPO / "generator" / "CONTRACT.md": SHARED / "CONTRACT.md",
}


@pytest.mark.parametrize("vendored", VENDORED, ids=lambda path: path.name)
def test_a_vendored_payroll_file_is_the_shared_one_unchanged(vendored: Path) -> None:
    shared = VENDORED[vendored]
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not beside this checkout: nothing to compare with")
    assert vendored.read_bytes() == shared.read_bytes(), (
        f"{vendored.relative_to(REPO)} differs from {shared}: copy the shared one over it"
    )
