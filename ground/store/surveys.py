"""What the survey dialogue reads and writes: the survey a conversation should run, answers (kept as they
come, so a hang-up loses nothing), completion (once per ticket), reopen requests (a try ends in ground.store.survey_tries.end_try)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Optional

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ground.tables.callbacks import callback_attempts as attempts
from ground.tables.callbacks import survey_results
from ground.store.survey_tries import opt_out, report_outcome  # noqa: F401  (report_outcome: its old home)
from ground.store.tickets import TicketStore
from ground.tables.tickets import tickets

log = logging.getLogger(__name__)
ANSWER_COLUMNS = {"survey_contacted": "responded", "survey_resolved": "resolved",
                  "survey_satisfaction": "satisfaction", "survey_reason": "comment"}


@dataclass(frozen=True)
class PendingSurvey:
    """The survey a conversation should open now."""

    attempt_id: int
    ticket_id: int
    ticket_no: str
    channel: str
    category: Optional[str]
    confidential: bool


def _pending(conn: Connection, *conditions: Any) -> Optional[PendingSurvey]:
    completed = select(survey_results.c.ticket_id).where(survey_results.c.completed_at.is_not(None))
    row = conn.execute(
        select(attempts.c.id, attempts.c.ticket_id, attempts.c.channel, tickets.c.ticket_no, tickets.c.category,
               tickets.c.confidential)
        .join(tickets, tickets.c.id == attempts.c.ticket_id)
        .where(attempts.c.outcome.is_(None), attempts.c.started_at.is_not(None),
               attempts.c.ticket_id.not_in(completed), *conditions)
        .order_by(attempts.c.started_at).limit(1)
    ).first()
    if row is None:
        return None
    return PendingSurvey(attempt_id=row.id, ticket_id=row.ticket_id, ticket_no=row.ticket_no, channel=row.channel,
                         category=row.category, confidential=bool(row.confidential))


def survey_for(engine: Engine, sender_id: str, metadata: Mapping[str, Any]) -> Optional[PendingSurvey]:
    """The survey this conversation should run: the call's (voice metadata, only in that call's own
    conversation), else a chat survey waiting for this conversation."""
    with engine.connect() as conn:
        attempt_id = metadata.get("attempt_id")
        if attempt_id is not None:
            try:
                attempt_id = int(attempt_id)
            except (TypeError, ValueError):
                log.warning("ignoring malformed attempt_id in the metadata of %s", sender_id)
                return None
            # A try is bound to its own call: the voice gateway's sender id is the try's call id. Metadata
            # from any other conversation (a forged attempt_id) opens nothing (issue 13, finding 2).
            found = _pending(conn, attempts.c.id == attempt_id, attempts.c.call_id == sender_id)
            if found is None:
                log.warning("attempt_id in the metadata of a conversation that is not its call: ignored")
            return found
        return _pending(conn, attempts.c.channel == "chat", tickets.c.conversation_id == sender_id)


def record_answers(engine: Engine, attempt_id: int, answers: Mapping[str, Any], now: datetime) -> bool:
    """Keep the answers given so far (slot names as in bot.survey); False when the survey was already completed."""
    values = {col: answers[slot] for slot, col in ANSWER_COLUMNS.items() if answers.get(slot) is not None}
    with engine.begin() as conn:
        row = conn.execute(select(attempts.c.ticket_id, attempts.c.channel).where(attempts.c.id == attempt_id)).one()
        existing = conn.execute(select(survey_results.c.id, survey_results.c.completed_at)
                                .where(survey_results.c.ticket_id == row.ticket_id)).first()
        if existing is not None and existing.completed_at is not None:
            return False
        if existing is None:
            try:
                with conn.begin_nested():
                    conn.execute(survey_results.insert().values(ticket_id=row.ticket_id, attempt_id=attempt_id,
                                                                channel=row.channel, updated_at=now, **values))
                return True
            except IntegrityError:  # inserted meanwhile by another conversation on the same ticket
                pass
        done = conn.execute(update(survey_results)
                            .where(survey_results.c.ticket_id == row.ticket_id, survey_results.c.completed_at.is_(None))
                            .values(attempt_id=attempt_id, channel=row.channel, updated_at=now, **values))
        return done.rowcount == 1


def complete(engine: Engine, attempt_id: int, answers: Mapping[str, Any], now: datetime) -> bool:
    """Record the last answers and complete the ticket's survey; False when it was completed before."""
    if not record_answers(engine, attempt_id, answers, now):
        return False
    with engine.begin() as conn:
        ticket_id = conn.execute(select(attempts.c.ticket_id).where(attempts.c.id == attempt_id)).scalar_one()
        done = conn.execute(update(survey_results)
                            .where(survey_results.c.ticket_id == ticket_id, survey_results.c.completed_at.is_(None))
                            .values(completed_at=now, updated_at=now, attempt_id=attempt_id))
        return done.rowcount == 1


def request_reopen(engine: Engine, attempt_id: int, reason: str, now: datetime) -> None:
    """Audit a reopen request on the try's ticket (see TicketStore.request_reopen)."""
    with engine.connect() as conn:
        ticket_no = conn.execute(select(tickets.c.ticket_no).join(attempts, attempts.c.ticket_id == tickets.c.id)
                                 .where(attempts.c.id == attempt_id)).scalar_one()
    TicketStore(engine, clock=lambda: now).request_reopen(ticket_no, reason, actor="survey")


def opt_out_citizen(engine: Engine, attempt_id: int, now: datetime) -> bool:
    """The citizen refused the survey: their phone joins the opt-out list (no future callbacks)."""
    with engine.connect() as conn:
        phone = conn.execute(select(tickets.c.phone).join(attempts, attempts.c.ticket_id == tickets.c.id)
                             .where(attempts.c.id == attempt_id)).scalar_one_or_none()
    if not phone:
        return False
    opt_out(engine, phone, now)
    return True
