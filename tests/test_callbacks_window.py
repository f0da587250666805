"""Calling window and retry policy: Beijing hours, mainland holidays and make-up working days, extra dates."""
from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from ground.survey_policy import SurveyPolicy
from ground.calling_window import CallingWindow, parse_dates
from tests.callbacks_support import as_utc, local, policy_from

WINDOW = CallingWindow()


def test_inside_the_window_a_call_may_start_at_once() -> None:
    moment = local(2026, 11, 26, 10, 30)  # a Thursday
    assert WINDOW.is_open(moment)
    assert WINDOW.next_open(moment) == as_utc(moment)


def test_after_hours_waits_for_next_morning_and_before_hours_for_nine() -> None:
    assert WINDOW.next_open(local(2026, 11, 26, 20, 0)) == as_utc(local(2026, 11, 27, 9, 0))
    assert WINDOW.next_open(local(2026, 11, 26, 7, 15)) == as_utc(local(2026, 11, 26, 9, 0))


def test_weekend_waits_for_monday() -> None:
    assert WINDOW.next_open(local(2026, 11, 28, 11, 0)) == as_utc(local(2026, 11, 30, 9, 0))  # Sat -> Mon


def test_national_day_holiday_is_skipped_and_the_make_up_saturday_is_a_calling_day() -> None:
    # 2026: 1-7 October off; Saturday 10 October is a make-up working day (State Council notice)
    assert WINDOW.next_open(local(2026, 9, 30, 19, 59)) == as_utc(local(2026, 9, 30, 19, 59))
    assert WINDOW.next_open(local(2026, 9, 30, 20, 0)) == as_utc(local(2026, 10, 8, 9, 0))
    assert WINDOW.is_calling_day(date(2026, 10, 10))
    assert not WINDOW.is_calling_day(date(2026, 10, 11))


def test_extra_holidays_and_working_days_from_configuration() -> None:
    window = CallingWindow(extra_holidays=frozenset({date(2026, 11, 27)}), extra_workdays=frozenset({date(2026, 11, 28)}))
    assert window.next_open(local(2026, 11, 26, 21, 0)) == as_utc(local(2026, 11, 28, 9, 0))


def test_years_beyond_the_calendar_fall_back_to_weekdays() -> None:
    assert WINDOW.is_calling_day(date(2031, 1, 6)) and not WINDOW.is_calling_day(date(2031, 1, 4))


def test_bad_configuration_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="2026-13-01"):
        parse_dates("2026-10-09, 2026-13-01")
    with pytest.raises(ValueError, match="before"):
        CallingWindow(start=time(20), end=time(9))
    with pytest.raises(ValueError):
        policy_from({"CALLBACK_EXTRA_HOLIDAYS": "tomorrow"})


def test_policy_from_environment() -> None:
    policy = policy_from({"CALLBACK_DELAY_MINUTES": "30", "CALLBACK_WINDOW_START": "08:30",
                                    "CALLBACK_WINDOW_END": "18:00", "CALLBACK_MAX_ATTEMPTS": "5",
                                    "CALLBACK_RETRY_MINUTES": "60,180", "CALLBACK_EXTRA_HOLIDAYS": "2026-12-31"})
    assert policy.delay == timedelta(minutes=30) and policy.max_attempts == 5
    assert policy.retry_spacing == (timedelta(hours=1), timedelta(hours=3))
    assert policy.window.start == time(8, 30) and date(2026, 12, 31) in policy.window.extra_holidays


def test_retry_spacing_grows_and_stops_at_the_maximum() -> None:
    policy = SurveyPolicy()
    now = local(2026, 11, 26, 10, 0)
    assert policy.next_try(1, "no_answer", now) == as_utc(local(2026, 11, 26, 12, 0))
    assert policy.next_try(2, "no_answer", now) == as_utc(local(2026, 11, 27, 10, 0))
    assert policy.next_try(1, "busy", now) == as_utc(local(2026, 11, 26, 10, 30))
    assert policy.next_try(3, "no_answer", now) is None
    assert policy.next_try(1, "refused", now) is None and policy.next_try(1, "answered", now) is None
    # a retry that would fall after hours goes to the next morning
    assert policy.next_try(1, "no_answer", local(2026, 11, 26, 19, 0)) == as_utc(local(2026, 11, 27, 9, 0))
