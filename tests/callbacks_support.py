"""Helpers for the callback tests: tickets closed at a chosen time, a steppable clock, attempt rows."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ground.tables.callbacks import callback_attempts, survey_results
from ground.settings import Settings
from ground.store import TicketDraft, TicketStore
from ground.survey_policy import SurveyPolicy

BEIJING = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)


def policy_from(env: dict[str, str] | None = None) -> SurveyPolicy:
    """The survey policy of the settings built from `env` (default: this process's environment)."""
    return Settings.from_env(env).callbacks.policy


def local(*args: int) -> datetime:
    """An aware Beijing-time datetime."""
    return datetime(*args, tzinfo=BEIJING)


class StepClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def closed_ticket(engine: Engine, closed_at: datetime, *, request_type: str = "complaint", channel: str = "rest",
                  phone: Optional[str] = "13912345678", unit: str = "unit-a", confidential: bool = False,
                  conversation_id: Optional[str] = None, category: str = "环境卫生/垃圾清运", close: bool = True) -> str:
    """A ticket filed a day before `closed_at`, dispatched to `unit` and closed at `closed_at`; its number."""
    n = next(_seq)
    store = TicketStore(engine, clock=lambda: closed_at - timedelta(days=1))
    ticket = store.create_ticket(TicketDraft(
        request_type=request_type, description="小区门口垃圾堆了三天没人清理", conversation_id=conversation_id or f"conv-{n}-{id(engine)}",
        request_key=f"key-{n}", category=category, district="朝阳区", phone=phone, contact_name="王先生",
        confidential=confidential, channel=channel, assigned_unit=unit))
    if close:
        TicketStore(engine, clock=lambda: closed_at).change_status(ticket.ticket_no, "closed", actor="test")
    return ticket.ticket_no


def attempts_of(engine: Engine, ticket_no: str) -> list:
    from ground.tables.tickets import tickets

    with engine.connect() as conn:
        return conn.execute(select(callback_attempts).join(tickets, tickets.c.id == callback_attempts.c.ticket_id)
                            .where(tickets.c.ticket_no == ticket_no).order_by(callback_attempts.c.attempt)).all()


def result_of(engine: Engine, ticket_no: str):
    from ground.tables.tickets import tickets

    with engine.connect() as conn:
        return conn.execute(select(survey_results).join(tickets, tickets.c.id == survey_results.c.ticket_id)
                            .where(tickets.c.ticket_no == ticket_no)).first()


def as_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def always_open_env(now: datetime) -> dict[str, str]:
    """Policy settings under which a call may start right now (the real clock), whatever the day."""
    today = now.astimezone(BEIJING).date()
    days = ",".join(str(today + timedelta(days=k)) for k in (-1, 0, 1))
    return {"CALLBACK_WINDOW_START": "00:00", "CALLBACK_WINDOW_END": "23:59:59", "CALLBACK_EXTRA_WORKDAYS": days,
            "CALLBACK_DELAY_MINUTES": "0"}


def hanging_worker_main() -> None:
    """A worker process whose call never ends (it gets killed mid-call by the test). Prints 'calling <attempt>'."""
    import asyncio
    import os
    import sys

    from callbacks.worker import CallbackWorker
    from ground.db import create_engine

    class HangingDialer:
        async def call(self, request):
            print(f"calling {request.attempt_id}", flush=True)
            await asyncio.Event().wait()

    engine = create_engine(os.environ["DATABASE_URL"])
    worker = CallbackWorker(engine, HangingDialer(), policy_from(), worker_id="doomed")
    print(asyncio.run(worker.run_once()), flush=True)
    sys.exit(1)
