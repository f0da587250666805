"""Claims: a worker takes one due try at a time with a lease it renews while the call runs.

PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same row.
SQLite (single worker): an atomic ``UPDATE ... WHERE claimed_by IS NULL``. A try whose lease ran out
while it was running belonged to a worker that died: the next claimer recovers it (answered if the
survey was completed meanwhile, else a lost try that is retried at once and not counted).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from ground.tables.callbacks import TryOutcome
from ground.tables.callbacks import callback_attempts as attempts
from ground.survey_policy import SurveyPolicy
from ground.store.survey_tries import finish_attempt, survey_completed
from ground.tables.tickets import tickets


@dataclass(frozen=True)
class Claim:
    """A due try this worker holds. ``repr`` keeps the phone out of logs."""

    attempt_id: int
    ticket_id: int
    ticket_no: str
    attempt: int
    channel: str
    conversation_id: str
    confidential: bool
    category: Optional[str]
    phone: Optional[str] = None
    recovering: bool = False  # the previous holder died while running it

    def __repr__(self) -> str:
        return f"Claim(attempt_id={self.attempt_id}, ticket_no={self.ticket_no}, attempt={self.attempt}, channel={self.channel})"


def _due(now: datetime):
    """Unfinished tries a worker may take: due and free, or held under an expired lease."""
    free = or_(attempts.c.claimed_by.is_(None), attempts.c.lease_until < now)
    not_waiting = or_(attempts.c.channel != "chat", attempts.c.started_at.is_(None), attempts.c.claimed_by.is_not(None))
    return and_(attempts.c.outcome.is_(None), attempts.c.scheduled_at <= now, free, not_waiting)


def due_tries(engine: Engine, now: datetime) -> dict[str, int]:
    """How many tries a worker could take now, by channel (the callback queue's depth)."""
    with engine.connect() as conn:
        rows = conn.execute(select(attempts.c.channel, func.count()).where(_due(now)).group_by(attempts.c.channel))
        return {channel: int(count) for channel, count in rows}


def claim_next(engine: Engine, worker: str, now: datetime, policy: SurveyPolicy,
               channels: tuple[str, ...] = ("voice", "chat")) -> Optional[Claim]:
    """Take the most overdue try on one of `channels`, or None when nothing is due."""
    due = and_(_due(now), attempts.c.channel.in_(channels))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            row = conn.execute(
                select(attempts.c.id, attempts.c.started_at).where(due)
                .order_by(attempts.c.scheduled_at, attempts.c.id).limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(update(attempts).where(attempts.c.id == row.id)
                         .values(claimed_by=worker, lease_until=now + policy.lease))
        else:
            candidate = select(attempts.c.id).where(due).order_by(attempts.c.scheduled_at, attempts.c.id).limit(1)
            row = conn.execute(select(attempts.c.id, attempts.c.started_at).where(attempts.c.id == candidate.scalar_subquery())).first()
            if row is None:
                return None
            taken = conn.execute(update(attempts).where(attempts.c.id == row.id, due)
                                 .values(claimed_by=worker, lease_until=now + policy.lease))
            if taken.rowcount != 1:
                return None
        return _claim(conn, row.id, recovering=row.started_at is not None)


def _claim(conn: Connection, attempt_id: int, recovering: bool) -> Claim:
    r = conn.execute(
        select(attempts.c.id, attempts.c.ticket_id, attempts.c.attempt, attempts.c.channel, tickets.c.ticket_no,
               tickets.c.conversation_id, tickets.c.confidential, tickets.c.category, tickets.c.phone)
        .join(tickets, tickets.c.id == attempts.c.ticket_id).where(attempts.c.id == attempt_id)
    ).one()
    return Claim(attempt_id=r.id, ticket_id=r.ticket_id, ticket_no=r.ticket_no, attempt=r.attempt, channel=r.channel,
                 conversation_id=r.conversation_id, confidential=bool(r.confidential), category=r.category,
                 phone=r.phone, recovering=recovering)


def mark_started(engine: Engine, claim: Claim, worker: str, now: datetime, call_id: str) -> bool:
    """Record that the call is being placed; False when the claim was lost (do not call)."""
    with engine.begin() as conn:
        done = conn.execute(update(attempts).where(attempts.c.id == claim.attempt_id, attempts.c.claimed_by == worker,
                                                   attempts.c.outcome.is_(None))
                            .values(started_at=now, call_id=call_id))
        return done.rowcount == 1


def renew(engine: Engine, claim: Claim, worker: str, now: datetime, policy: SurveyPolicy) -> bool:
    """Extend the lease; False when another worker took the try over (stop the call)."""
    with engine.begin() as conn:
        done = conn.execute(update(attempts).where(attempts.c.id == claim.attempt_id, attempts.c.claimed_by == worker,
                                                   attempts.c.outcome.is_(None))
                            .values(lease_until=now + policy.lease))
        return done.rowcount == 1


def release_waiting(engine: Engine, claim: Claim, worker: str) -> None:
    """A chat survey was posted: it now waits for the citizen, held by no worker."""
    with engine.begin() as conn:
        conn.execute(update(attempts).where(attempts.c.id == claim.attempt_id, attempts.c.claimed_by == worker)
                     .values(claimed_by=None, lease_until=None))


def postpone(engine: Engine, claim: Claim, worker: str, due: datetime) -> None:
    """The window closed before the try was made: free it for the window's next opening."""
    with engine.begin() as conn:
        conn.execute(update(attempts).where(attempts.c.id == claim.attempt_id, attempts.c.claimed_by == worker)
                     .values(scheduled_at=due, claimed_by=None, lease_until=None))


def recover(engine: Engine, claim: Claim, policy: SurveyPolicy, now: datetime) -> str:
    """Settle a try whose worker died mid-call: 'answered' if completed meanwhile, else lost and retried."""
    with engine.connect() as conn:
        completed = survey_completed(conn, claim.ticket_id)
    if completed:
        finish_attempt(engine, claim.attempt_id, TryOutcome.ANSWERED, policy, now, note="recovered after its worker stopped")
        return "answered"
    finish_attempt(engine, claim.attempt_id, TryOutcome.FAILED, policy, now, note="worker lost mid-call; retried", counted=False)
    return "retried"


def expire_chat_waits(engine: Engine, policy: SurveyPolicy, now: datetime) -> int:
    """Chat surveys nobody opened within ``chat_wait``: no answer (the policy decides on another try)."""
    with engine.connect() as conn:
        ids = list(conn.execute(select(attempts.c.id).where(
            attempts.c.channel == "chat", attempts.c.outcome.is_(None), attempts.c.claimed_by.is_(None),
            attempts.c.started_at.is_not(None), attempts.c.started_at < now - policy.chat_wait)).scalars())
    for attempt_id in ids:
        finish_attempt(engine, attempt_id, TryOutcome.NO_ANSWER, policy, now, note="chat survey not opened")
    return len(ids)
