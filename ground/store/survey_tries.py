"""A survey try from its scheduling to its end: closed tickets get a first try; :func:`end_try` (the one place a
try ends, called by the survey dialogue and by the callback worker) records its outcome and schedules the next
one by the policy.

Closures by the seat, the admin console or another system writing the database all end in
``tickets.status = 'closed'`` with ``closed_at``; :func:`schedule_closed` finds those without any
callback row (indexed on status/closed_at) and is safe to run from several processes at once.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from prometheus_client import Counter
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ground.metrics import label
from ground.settings import current, opt_out_secret
from ground.tables.callbacks import SurveyChannel, TryOutcome
from ground.tables.callbacks import callback_attempts as attempts
from ground.tables.callbacks import survey_opt_outs, survey_results
from ground.survey_policy import NOT_SURVEYED_TYPES, SurveyPolicy
from ground.tables.tickets import dialect_insert, tickets
from ground.store.numbering import normalize_phone
from ground.wechat_window import last_message_at, window_open

log = logging.getLogger(__name__)

TRIES_ENDED = Counter("seat_callback_tries", "Survey tries ended, by channel and outcome (answered, no_answer, "
                      "busy, failed, refused, wrong_person; tickets not surveyed at all are not tries)", ["channel", "outcome"])
CHAT_CHANNELS = frozenset({"web"})  # tickets filed in the citizen web chat are surveyed there
WECHAT_CHANNEL = "wechat"  # surveyed over WeChat while its 48-hour service window is open, else by phone


def legacy_phone_hash(phone: str) -> str:
    """The unsalted SHA-256 of the phone's digits that opt-out rows held before migration 0007 (opt-out HMAC); rows
    whose number no ticket knew keep it until that number is seen again (then they are re-keyed)."""
    digits = normalize_phone(phone) or phone
    return hashlib.sha256(digits.encode()).hexdigest()


def phone_hash(phone: str, secret: Optional[bytes] = None) -> str:
    """HMAC-SHA-256 of the phone's digits under OPT_OUT_SECRET (the opt-out list never holds numbers, and a dump
    of the database cannot be brute-forced without the secret). `secret`: default the process's settings."""
    digits = normalize_phone(phone) or phone
    key = secret if secret is not None else opt_out_secret(current())
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()


def opt_out(engine: Engine, phone: str, now: datetime) -> None:
    """Never call this number back (idempotent); a legacy row of the number is re-keyed."""
    key, legacy = phone_hash(phone), legacy_phone_hash(phone)
    with engine.begin() as conn:
        conn.execute(survey_opt_outs.delete().where(survey_opt_outs.c.phone_sha256 == legacy))
        if conn.execute(select(survey_opt_outs.c.phone_sha256).where(survey_opt_outs.c.phone_sha256 == key)).first():
            return
        try:
            conn.execute(survey_opt_outs.insert().values(phone_sha256=key, created_at=now))
        except IntegrityError:
            pass


def survey_channel(request_type: str, channel: str, phone: Optional[str], opted_out: bool,
                   wechat_open: bool = False) -> tuple[str | None, str]:
    """(channel, reason): 'chat' / 'voice', or None with why the ticket is not surveyed.

    `wechat_open`: a WeChat ticket's citizen can still get customer-service messages at the first try."""
    if request_type in NOT_SURVEYED_TYPES:
        return None, "praise is not surveyed"
    if channel in CHAT_CHANNELS:
        return "chat", "web chat ticket"
    if channel == WECHAT_CHANNEL and wechat_open:
        return "chat", "WeChat ticket, service window open"
    if opted_out:
        return None, "citizen opted out"
    if not phone:
        return None, "no phone number"
    return "voice", "phone"


@dataclass(frozen=True)
class ScheduleResult:
    scheduled: int
    skipped: int


def schedule_closed(engine: Engine, policy: SurveyPolicy, now: datetime, batch: int = 500) -> ScheduleResult:
    """Give every closed ticket without a callback row its first try (or a 'skipped' row)."""
    no_row = ~exists().where(attempts.c.ticket_id == tickets.c.id)
    stmt = (
        select(tickets.c.id, tickets.c.request_type, tickets.c.channel, tickets.c.phone, tickets.c.closed_at,
               tickets.c.conversation_id)
        .where(tickets.c.status == "closed", tickets.c.closed_at.is_not(None), no_row)
        .order_by(tickets.c.closed_at)
        .limit(batch)
    )
    scheduled = skipped = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                break
            keys = {r.phone: (phone_hash(r.phone), legacy_phone_hash(r.phone)) for r in rows if r.phone}
            hashes = {k for pair in keys.values() for k in pair}
            opted = set(conn.execute(
                select(survey_opt_outs.c.phone_sha256).where(survey_opt_outs.c.phone_sha256.in_(hashes))
            ).scalars()) if hashes else set()
            values = []
            for r in rows:
                first_try = policy.first_try(max(r.closed_at, now - policy.delay))
                wechat_open = r.channel == WECHAT_CHANNEL and window_open(
                    last_message_at(conn, r.conversation_id), first_try)
                channel, reason = survey_channel(r.request_type, r.channel, r.phone,
                                                 bool(r.phone) and bool(set(keys[r.phone]) & opted), wechat_open)
                if channel is None:
                    skipped += 1
                    values.append(dict(ticket_id=r.id, attempt=0, channel="voice", scheduled_at=now, ended_at=now,
                                       outcome="skipped", note=reason, counted=False, created_at=now))
                else:
                    scheduled += 1
                    values.append(dict(ticket_id=r.id, attempt=1, channel=channel, counted=True, created_at=now,
                                       scheduled_at=first_try))
            _insert_ignoring_duplicates(conn, values)
        if len(rows) < batch:
            break
    if scheduled or skipped:
        log.info("callbacks scheduled: %d, not surveyed: %d", scheduled, skipped)
    return ScheduleResult(scheduled, skipped)


def _insert_ignoring_duplicates(conn: Connection, values: list[dict]) -> None:
    """Insert rows; a row another scheduler inserted first (same ticket and attempt) is left alone."""
    keys = ("ticket_id", "attempt", "channel", "scheduled_at", "ended_at", "outcome", "note", "counted", "created_at")
    values = [{k: v.get(k) for k in keys} for v in values]  # a multi-row VALUES needs the same columns in each
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        conn.execute(dialect_insert(name)(attempts).values(values).on_conflict_do_nothing(
            index_elements=[attempts.c.ticket_id, attempts.c.attempt]))
    else:  # pragma: no cover - other backends
        for v in values:
            try:
                with conn.begin_nested():
                    conn.execute(attempts.insert().values(**v))
            except IntegrityError:
                pass


def survey_completed(conn: Connection, ticket_id: int) -> bool:
    """Whether the ticket has its completed survey."""
    return conn.execute(select(survey_results.c.id).where(
        survey_results.c.ticket_id == ticket_id, survey_results.c.completed_at.is_not(None))).first() is not None


CALL_SAID_OUTCOMES = frozenset({TryOutcome.BUSY, TryOutcome.WRONG_PERSON, TryOutcome.REFUSED, TryOutcome.FAILED})


def report_outcome(engine: Engine, attempt_id: int, outcome: TryOutcome | str) -> None:
    """What the dialogue heard during a call (busy, wrong_person, refused, answered); the call's end settles it."""
    with engine.begin() as conn:
        conn.execute(update(attempts).where(attempts.c.id == attempt_id, attempts.c.outcome.is_(None))
                     .values(reported_outcome=TryOutcome(outcome).value))


def end_try(engine: Engine, attempt_id: int, channel: SurveyChannel | str, policy: SurveyPolicy, now: datetime, *,
            heard: TryOutcome | str | None = None, call_status: Optional[str] = None,
            call_detail: Optional[str] = None) -> Optional[TryOutcome]:
    """End a survey try: the one place that decides its outcome, records it and schedules the next try.

    The survey dialogue calls it when the survey conversation ends (`heard`: how it ended); the callback worker
    when the call it placed ends (`call_status`: the dialer's answered / no_answer / busy / failed). A chat try
    ends with its dialogue (no worker waits for it). A voice try ends with its call: what the dialogue heard is
    kept until then, and the outcome is the completed survey, else what the dialogue heard, else the call's status.
    Returns the outcome recorded, or None while a voice try's call is still up.
    """
    channel = SurveyChannel(channel)
    if call_status is None:
        if heard is None:
            raise ValueError("end_try needs what the dialogue heard or how the call ended")
        heard = TryOutcome(heard)
        if channel is SurveyChannel.VOICE:
            report_outcome(engine, attempt_id, heard)
            return None
        finish_attempt(engine, attempt_id, heard, policy, now,
                       note=None if heard is TryOutcome.ANSWERED else "said in the chat survey")
        return heard
    with engine.connect() as conn:
        row = conn.execute(select(attempts.c.ticket_id, attempts.c.reported_outcome)
                           .where(attempts.c.id == attempt_id)).one()
        completed = survey_completed(conn, row.ticket_id)
    note = call_detail or None
    if completed:
        outcome = TryOutcome.ANSWERED
    elif row.reported_outcome in CALL_SAID_OUTCOMES:
        outcome, note = TryOutcome(row.reported_outcome), "said in the survey"
    elif call_status == TryOutcome.ANSWERED:
        outcome, note = TryOutcome.NO_ANSWER, "hung up before the survey was complete"
    else:
        outcome = TryOutcome(call_status)
    finish_attempt(engine, attempt_id, outcome, policy, now, note=note)
    return outcome


def finish_attempt(engine: Engine, attempt_id: int, outcome: TryOutcome | str, policy: SurveyPolicy, now: datetime,
                   note: str | None = None, counted: bool = True) -> Optional[datetime]:
    """Record the try's outcome (once: a finished try is never changed) and schedule the next try.

    Returns when the next try is due, or None (done, or the try was already finished).
    """
    outcome = TryOutcome(outcome)
    with engine.begin() as conn:
        done = conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt_id, attempts.c.outcome.is_(None))
            .values(outcome=outcome.value, ended_at=now, claimed_by=None, lease_until=None, note=note, counted=counted)
        )
        if done.rowcount != 1:
            return None
        row = conn.execute(select(attempts).where(attempts.c.id == attempt_id)).one()
        TRIES_ENDED.labels(label(row.channel, [c.value for c in SurveyChannel]), outcome.value).inc()
        if survey_completed(conn, row.ticket_id):
            return None
        tries = conn.execute(select(func.count()).select_from(attempts).where(
            and_(attempts.c.ticket_id == row.ticket_id, attempts.c.counted.is_(True), attempts.c.attempt > 0))).scalar_one()
        due = now if not counted else policy.next_try(tries, outcome, now)
        if due is None:
            return None
        due = policy.window.next_open(due)
        last = conn.execute(select(func.max(attempts.c.attempt)).where(attempts.c.ticket_id == row.ticket_id)).scalar_one()
        _insert_ignoring_duplicates(conn, [dict(ticket_id=row.ticket_id, attempt=last + 1, channel=row.channel,
                                                scheduled_at=due, counted=True, created_at=now)])
        return due
