from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.schedules import (
    DEFAULT_TIMEZONE,
    InvalidSchedule,
    Schedule,
    check_cron,
    check_timezone,
    next_run,
    next_scheduled_run,
)


@pytest.mark.parametrize(
    ("cron", "why"),
    [
        ("61 * * * *", "Bad minute"),
        ("0 2 30 2 *", "Bad day-of-month"),
        ("0 2 * *", "five fields"),
        ("0 0 2 * * *", "five fields"),
        ("H 2 * * *", "five fields"),
        ("nightly", "five fields"),
    ],
)
def test_a_cron_expression_that_cannot_run_is_refused_saying_why(cron, why):
    with pytest.raises(InvalidSchedule, match=why):
        check_cron(cron)


def test_a_cron_expression_comes_back_with_its_spaces_tidied():
    assert check_cron("  0  2 * *   1-5 ") == "0 2 * * 1-5"


def test_a_timezone_must_be_an_iana_name():
    assert check_timezone("Australia/Perth") == "Australia/Perth"
    for wrong in ("Sydney", "AEST", "Australia/Sydny", "../etc/passwd", ""):
        with pytest.raises(InvalidSchedule, match="not an IANA timezone name"):
            check_timezone(wrong)


def test_the_next_run_is_wall_clock_time_in_the_schedule_s_timezone():
    # 15:00 UTC on 30 Nov 2026 is 02:00 on 1 Dec in Sydney (AEDT, UTC+11): just past.
    after = datetime(2026, 11, 30, 15, 0, 30, tzinfo=UTC)
    run = next_run("0 2 * * *", DEFAULT_TIMEZONE, after)
    assert run.isoformat() == "2026-12-02T02:00:00+11:00"
    assert next_run("0 2 * * *", "UTC", after).isoformat() == "2026-12-01T02:00:00+00:00"


def test_the_next_run_follows_daylight_saving():
    # Sydney leaves daylight saving on 5 April 2026: 02:00 is then UTC+10.
    after = datetime(2026, 4, 5, 12, 0, tzinfo=UTC)
    assert next_run("0 2 * * *", DEFAULT_TIMEZONE, after).utcoffset().total_seconds() == 36000


@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(["*/1 * * * *", "0 2 * * *"]),
)
def test_the_next_run_is_always_after_now(after, cron):
    assert next_run(cron, DEFAULT_TIMEZONE, after) > after


def test_a_database_s_next_run_is_its_soonest_switched_on_schedule():
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    nightly = Schedule("acme", "sync-from-payroll", "0 2 * * *", "UTC", True)
    leave = Schedule("acme", "sync-leave-balances", "0 1 * * *", "UTC", False)
    assert next_scheduled_run([nightly, leave], after) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert next_scheduled_run([leave], after) is None
    assert next_scheduled_run([], after) is None
