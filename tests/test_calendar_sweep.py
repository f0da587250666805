"""The calendar sweep (issue 20): what depends on the day gives the same answers on the 1st at 00:01, the 31st at
23:59, New Year's Eve and Day and a leap day, in Beijing time, whatever the UTC date is at that moment.

The other calendar-dependent tests take the `calendar_now` fixture too (ticket numbers, dashboards, the knowledge
base's rate per day and month), so they all run at every instant of the sweep.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from ground.tables.callbacks import callback_attempts, survey_results
from ground.survey_policy import SurveyPolicy
from ground.store.rates import unit_rates
from ground.store.survey_tries import schedule_closed
from ground.calling_window import CallingWindow
from ground.store import TicketDraft, TicketStore
from tests.calendar_support import BEIJING, SWEEP, month_of, previous_month

WINDOW = CallingWindow()


@pytest.mark.parametrize("instant", list(SWEEP.values()), ids=list(SWEEP))
def test_the_first_calling_moment_is_the_earliest_open_one(instant: datetime) -> None:
    due = WINDOW.next_open(instant).astimezone(BEIJING)
    assert due >= instant and WINDOW.is_open(due)
    # nothing earlier was open: a minute-by-minute walk from the instant finds no open moment before `due`
    moment = instant
    while moment < due:
        assert not WINDOW.is_open(moment), f"{moment} was open before {due}"
        moment += timedelta(minutes=1)


@pytest.mark.parametrize("year", range(2026, 2036))
def test_new_year_and_national_day_are_never_calling_days(year: int) -> None:
    # also past the years the holiday package knows: the fixed-date statutory holidays stay off
    for day in (date(year, 1, 1), date(year, 5, 1), date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)):
        assert not WINDOW.is_calling_day(day), day


def test_a_ticket_closed_at_the_sweep_instant_is_called_at_the_first_open_moment(clean_db, calendar_now) -> None:
    store = TicketStore(clean_db)
    ticket = store.create_ticket(TicketDraft(
        request_type="complaint", description="小区垃圾三天没清运", conversation_id="sweep", request_key="sweep",
        district="朝阳区", phone="13912345678", channel="rest"))
    store.change_status(ticket.ticket_no, "closed", actor="test")
    closed_at = store.get(ticket.ticket_no).closed_at
    policy = SurveyPolicy(delay=timedelta(minutes=30))
    schedule_closed(clean_db, policy, datetime.now(timezone.utc))
    with clean_db.connect() as conn:
        (due,) = conn.execute(select(callback_attempts.c.scheduled_at)).scalars().all()
    due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
    assert due == WINDOW.next_open(closed_at + policy.delay)
    local = due.astimezone(BEIJING)
    assert WINDOW.is_calling_day(local.date()) and time(9) <= local.time() < time(20)


def test_a_survey_counts_in_the_beijing_month_it_was_completed(clean_db, calendar_now) -> None:
    store = TicketStore(clean_db)
    ticket = store.create_ticket(TicketDraft(
        request_type="complaint", description="路灯坏了", conversation_id="sweep-rate", request_key="sweep-rate",
        district="朝阳区", phone="13912345678", channel="rest", assigned_unit="unit-a"))
    now = datetime.now(timezone.utc)
    with clean_db.begin() as conn:
        conn.execute(survey_results.insert().values(
            ticket_id=store.get(ticket.ticket_no).id, responded=True, resolved=True, satisfaction="satisfied",
            channel="voice", updated_at=now, completed_at=now))
    this_month = month_of(calendar_now)
    [rates] = unit_rates(clean_db, this_month)
    assert (rates.month, rates.answered, rates.satisfaction_rate) == (this_month, 1, 1.0)
    assert unit_rates(clean_db, previous_month(this_month)) == []
