"""Which sizes a benchmark run measures on which engine."""

import pytest

from bench.__main__ import engine_sizes, parse_args


def test_the_default_run_adds_a_million_employees_on_postgresql_only():
    args = parse_args([])
    assert engine_sizes(args, "sqlite") == [10_000, 200_000]
    assert engine_sizes(args, "postgresql") == [10_000, 200_000, 1_000_000]


@pytest.mark.parametrize(
    ("argv", "sizes"),
    [(["--quick"], [2_000]), (["--sizes", "1000000,200_000"], [200_000, 1_000_000])],
)
def test_sizes_given_are_the_sizes_run_on_every_engine(argv, sizes):
    args = parse_args(argv)
    assert engine_sizes(args, "sqlite") == sizes
    assert engine_sizes(args, "postgresql") == sizes
