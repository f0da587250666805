"""Closing a ticket schedules its satisfaction survey — by the seat's API, its CLI, or another system writing
the database — and the worker follows the window and the retry policy on an injected clock."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import text

from callbacks.dialers import InstantDialer
from ground.survey_policy import SurveyPolicy
from ground.store.survey_tries import opt_out, schedule_closed
from ground.store.surveys import complete
from callbacks.worker import CallbackWorker
from ground.settings import REPO_ROOT
from ground.store import TicketStore
from tests.callbacks_support import StepClock, as_utc, attempts_of, closed_ticket, local, result_of

POLICY = SurveyPolicy()


def test_closing_through_the_seat_api_schedules_the_first_try_after_the_delay(clean_db) -> None:
    no = closed_ticket(clean_db, local(2026, 11, 26, 10, 0))
    assert schedule_closed(clean_db, POLICY, as_utc(local(2026, 11, 26, 10, 1))).scheduled == 1
    [first] = attempts_of(clean_db, no)
    assert (first.attempt, first.channel, first.outcome) == (1, "voice", None)
    assert first.scheduled_at == as_utc(local(2026, 11, 26, 12, 0))
    assert schedule_closed(clean_db, POLICY, as_utc(local(2026, 11, 26, 10, 2))).scheduled == 0  # once only


def test_closing_late_in_the_evening_waits_for_the_next_working_morning(clean_db) -> None:
    no = closed_ticket(clean_db, local(2026, 11, 27, 19, 0))  # Friday evening
    schedule_closed(clean_db, POLICY, as_utc(local(2026, 11, 27, 19, 5)))
    assert attempts_of(clean_db, no)[0].scheduled_at == as_utc(local(2026, 11, 30, 9, 0))


def test_closing_by_the_seat_cli(clean_db, database_url) -> None:
    no = closed_ticket(clean_db, local(2026, 11, 26, 10, 0), close=False)
    env = {**os.environ, "DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "seat", "tickets", "close", no, "--actor", "admin:li"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"ticket {no} closed" in done.stdout
    again = subprocess.run([sys.executable, "-m", "seat", "tickets", "close", no], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "closed -> closed is not allowed" in again.stdout
    assert TicketStore(clean_db).events(no)[-1].actor == "admin:li"
    assert schedule_closed(clean_db, POLICY, as_utc(local(2026, 11, 26, 23, 0))).scheduled == 1
    assert len(attempts_of(clean_db, no)) == 1


def test_closing_by_another_system_writing_the_database(clean_db) -> None:
    no = closed_ticket(clean_db, local(2026, 11, 26, 10, 0), close=False)
    with clean_db.begin() as conn:  # no ticket_events row, no seat code: just the shared table
        conn.execute(text("UPDATE tickets SET status = 'closed', closed_at = :at WHERE ticket_no = :no"),
                     {"at": as_utc(local(2026, 11, 26, 15, 0)), "no": no})
    schedule_closed(clean_db, POLICY, as_utc(local(2026, 11, 26, 15, 1)))
    assert attempts_of(clean_db, no)[0].scheduled_at == as_utc(local(2026, 11, 26, 17, 0))


def test_praise_opted_out_and_unreachable_tickets_are_not_surveyed_chat_tickets_are_surveyed_in_chat(clean_db) -> None:
    closed = local(2026, 11, 26, 10, 0)
    praise = closed_ticket(clean_db, closed, request_type="praise")
    opted = closed_ticket(clean_db, closed, phone="13700001111")
    no_phone = closed_ticket(clean_db, closed, phone=None)
    web = closed_ticket(clean_db, closed, channel="web", phone=None, conversation_id="browser-42")
    opt_out(clean_db, "137-0000-1111", as_utc(closed))
    result = schedule_closed(clean_db, POLICY, as_utc(closed))
    assert (result.scheduled, result.skipped) == (1, 3)
    assert [(a.attempt, a.outcome, a.note) for a in attempts_of(clean_db, praise)] == [(0, "skipped", "praise is not surveyed")]
    assert attempts_of(clean_db, opted)[0].note == "citizen opted out"
    assert attempts_of(clean_db, no_phone)[0].note == "no phone number"
    assert attempts_of(clean_db, web)[0].channel == "chat"


def _worker(engine, clock, status="no_answer", survey=None):
    return CallbackWorker(engine, InstantDialer(survey=survey, status=status), POLICY, clock=clock, worker_id="w1")


def test_unanswered_calls_are_retried_by_the_policy_then_given_up(clean_db) -> None:
    clock = StepClock(as_utc(local(2026, 11, 26, 10, 0)))
    no = closed_ticket(clean_db, clock.now)
    worker = _worker(clean_db, clock)

    async def scenario() -> list:
        await worker.schedule()
        seen = [await worker.run_once()]            # 10:00: nothing due before 12:00
        clock.now = as_utc(local(2026, 11, 26, 12, 0))
        seen.append(await worker.run_once())        # try 1: no answer -> try 2 at 14:00
        seen.append(await worker.run_once())        # nothing due now
        clock.now = as_utc(local(2026, 11, 26, 14, 0))
        seen.append(await worker.run_once())        # try 2: no answer -> try 3 24 h later
        clock.now = as_utc(local(2026, 11, 27, 14, 0))
        seen.append(await worker.run_once())        # try 3: no answer -> given up
        clock.advance(days=3)
        seen.append(await worker.run_once())
        return seen

    assert asyncio.run(scenario()) == [None, "no_answer", None, "no_answer", "no_answer", None]
    tries = attempts_of(clean_db, no)
    assert [(a.attempt, a.outcome) for a in tries] == [(1, "no_answer"), (2, "no_answer"), (3, "no_answer")]
    assert [a.scheduled_at for a in tries] == [as_utc(local(2026, 11, 26, 12, 0)), as_utc(local(2026, 11, 26, 14, 0)),
                                               as_utc(local(2026, 11, 27, 14, 0))]
    assert len(worker.dialer.calls) == 3 and all(c.ticket_no == no for c in worker.dialer.calls)


def test_a_try_due_after_hours_is_postponed_to_the_window(clean_db) -> None:
    clock = StepClock(as_utc(local(2026, 11, 26, 17, 30)))
    no = closed_ticket(clean_db, as_utc(local(2026, 11, 26, 17, 30)))
    worker = _worker(clean_db, clock)

    async def scenario() -> list:
        await worker.schedule()                     # due 19:30
        clock.now = as_utc(local(2026, 11, 26, 20, 30))  # the worker was busy until after hours
        return [await worker.run_once(), await worker.run_once()]

    assert asyncio.run(scenario()) == ["postponed", None]
    assert attempts_of(clean_db, no)[0].scheduled_at == as_utc(local(2026, 11, 27, 9, 0))
    assert worker.dialer.calls == []


def test_a_completed_survey_ends_the_tries_and_busy_is_called_back_sooner(clean_db) -> None:
    clock = StepClock(as_utc(local(2026, 11, 26, 9, 0)))
    done_no = closed_ticket(clean_db, clock.now - timedelta(hours=3))
    busy_no = closed_ticket(clean_db, clock.now - timedelta(hours=3))

    async def answer(request) -> str:
        if request.ticket_no == done_no:
            await asyncio.to_thread(complete, clean_db, request.attempt_id, {
                "survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"}, clock.now)
        else:
            from ground.store.surveys import report_outcome

            await asyncio.to_thread(report_outcome, clean_db, request.attempt_id, "busy")
        return "ok"

    worker = _worker(clean_db, clock, status="answered", survey=answer)

    async def scenario() -> list:
        await worker.schedule()
        return [await worker.run_once(), await worker.run_once(), await worker.run_once()]

    assert sorted(asyncio.run(scenario()), key=str) == [None, "answered", "busy"]
    assert [(a.attempt, a.outcome) for a in attempts_of(clean_db, done_no)] == [(1, "answered")]
    busy = attempts_of(clean_db, busy_no)
    assert [(a.attempt, a.outcome) for a in busy] == [(1, "busy"), (2, None)]
    assert busy[1].scheduled_at == clock.now + timedelta(minutes=30)
    assert result_of(clean_db, done_no).satisfaction == "satisfied"


def test_a_hang_up_mid_survey_keeps_the_answers_and_is_retried(clean_db) -> None:
    from ground.store.surveys import record_answers

    clock = StepClock(as_utc(local(2026, 11, 26, 13, 0)))
    no = closed_ticket(clean_db, clock.now - timedelta(hours=3))

    async def hang_up_after_one_answer(request) -> None:
        await asyncio.to_thread(record_answers, clean_db, request.attempt_id, {"survey_contacted": True}, clock.now)

    worker = _worker(clean_db, clock, status="answered", survey=hang_up_after_one_answer)

    async def scenario() -> str:
        await worker.schedule()
        return await worker.run_once()

    assert asyncio.run(scenario()) == "no_answer"
    tries = attempts_of(clean_db, no)
    assert [(a.attempt, a.outcome, a.note) for a in tries][0] == (1, "no_answer", "hung up before the survey was complete")
    assert tries[1].outcome is None
    kept = result_of(clean_db, no)
    assert kept.responded is True and kept.completed_at is None


@pytest.mark.parametrize("first", [True, False])
def test_exactly_one_completed_survey_per_ticket(clean_db, first) -> None:
    from ground.store.claims import claim_next, mark_started

    clock = StepClock(as_utc(local(2026, 11, 26, 13, 0)))
    no = closed_ticket(clean_db, clock.now - timedelta(hours=3))
    schedule_closed(clean_db, POLICY, clock.now)
    claim = claim_next(clean_db, "w", clock.now, POLICY)
    assert mark_started(clean_db, claim, "w", clock.now, "call-1")
    answers = {"survey_contacted": True, "survey_resolved": first, "survey_satisfaction": "satisfied"}
    assert complete(clean_db, claim.attempt_id, answers, clock.now) is True
    assert complete(clean_db, claim.attempt_id, {**answers, "survey_satisfaction": "unsatisfied"}, clock.now) is False
    assert result_of(clean_db, no).satisfaction == "satisfied"


def test_a_refusal_puts_the_phone_on_the_opt_out_list(clean_db) -> None:
    from ground.store.claims import claim_next, mark_started
    from ground.store.surveys import opt_out_citizen

    clock = StepClock(as_utc(local(2026, 11, 26, 13, 0)))
    first = closed_ticket(clean_db, clock.now - timedelta(hours=3), phone="13655556666")
    schedule_closed(clean_db, POLICY, clock.now)
    claim = claim_next(clean_db, "w", clock.now, POLICY)
    mark_started(clean_db, claim, "w", clock.now, "call-1")
    assert opt_out_citizen(clean_db, claim.attempt_id, clock.now)
    later = closed_ticket(clean_db, clock.advance(days=1), phone="136 5555 6666")
    schedule_closed(clean_db, POLICY, clock.now)
    assert [(a.outcome, a.note) for a in attempts_of(clean_db, later)] == [("skipped", "citizen opted out")]
    assert attempts_of(clean_db, first)[0].outcome is None  # the refused try itself is settled by its worker


def test_sqlite_single_worker_mode(tmp_path) -> None:
    """The embedded default database: claims are atomic UPDATEs, the same survey flow works."""
    from ground.db import create_engine
    from ground.store import migrate

    url = f"sqlite:///{tmp_path / 'ground.db'}"
    migrate(url)
    engine = create_engine(url)
    try:
        clock = StepClock(as_utc(local(2026, 11, 26, 13, 0)))
        numbers = [closed_ticket(engine, clock.now - timedelta(hours=3)) for _ in range(3)]

        async def answer(request) -> None:
            await asyncio.to_thread(complete, engine, request.attempt_id, {
                "survey_contacted": True, "survey_resolved": True, "survey_satisfaction": "satisfied"}, clock.now)

        worker = _worker(engine, clock, status="answered", survey=answer)

        async def scenario() -> list:
            await worker.schedule()
            return [await worker.run_once() for _ in range(4)]

        assert asyncio.run(scenario()) == ["answered", "answered", "answered", None]
        assert sorted(c.ticket_no for c in worker.dialer.calls) == sorted(numbers)
        assert all(result_of(engine, no).completed_at is not None for no in numbers)
    finally:
        engine.dispose()
