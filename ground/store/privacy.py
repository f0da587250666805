"""Privacy (PIPL): erase one citizen's personal data on request, purge old personal data after RETENTION_DAYS.

What stays is anonymous: tickets keep their number, type, category, district, street, unit, status and dates; survey
results keep their answers; so the three rates (ground/store/rates.py) and the one-time resolution rate stay
computable. What goes: phone, name, address, description and any free text mentioning the phone, the dialogue's
handoff records, the knowledge-base questions, and Rasa's tracker events (its ``events`` table, created by Rasa's
SQLTrackerStore, not by our migrations) of the conversations concerned.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Optional

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import Connection, Engine

from ground.masking import mask_phone, mask_text, phone_digits, phones_in
from ground.store import audit
from ground.tables.callbacks import callback_attempts, survey_results
from ground.tables.knowledge import kb_answers
from ground.tables.tickets import handoffs, ticket_events, tickets, utcnow

log = logging.getLogger("ground.store.privacy")

ERASED_TEXT = "（个人信息已删除）"
RASA_EVENTS = "events"


class PrivacyError(ValueError):
    """A request the privacy functions cannot carry out (e.g. not a phone number)."""


@dataclass
class PrivacyReport:
    tickets: int = 0
    ticket_notes: int = 0
    surveys: int = 0
    callback_notes: int = 0
    handoffs: int = 0
    kb_questions: int = 0
    tracker_events: int = 0
    conversations: int = 0


def _text_of(value: Any) -> str:
    """Every string inside a JSON value (or a JSON document), joined, non-ASCII unescaped."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False)


def _mentions(value: Any, digits: str) -> bool:
    return digits in phones_in(_text_of(value))


def _events_table(conn: Connection) -> Optional[Table]:
    if not inspect(conn).has_table(RASA_EVENTS):
        return None
    return Table(RASA_EVENTS, MetaData(), autoload_with=conn)


def _anonymise_tickets(conn: Connection, ids: Iterable[int], report: PrivacyReport, digits: Optional[str]) -> None:
    ids = sorted(set(ids))
    if not ids:
        return
    for row in conn.execute(select(ticket_events.c.id, ticket_events.c.note, ticket_events.c.ticket_id)
                            .where(ticket_events.c.ticket_id.in_(ids), ticket_events.c.note.is_not(None))):
        names = tuple(n for n in conn.execute(select(tickets.c.contact_name).where(
            tickets.c.id == row.ticket_id)).scalars() if n)
        masked = mask_text(row.note, names)
        if masked != row.note:
            conn.execute(ticket_events.update().where(ticket_events.c.id == row.id).values(note=masked))
            report.ticket_notes += 1
    for ticket_id in ids:
        conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(
            phone=None, contact_name=None, address=None, description=ERASED_TEXT, extra=None,
            conversation_id=f"erased-{ticket_id}", request_key=f"erased-{ticket_id}", updated_at=utcnow()))
    report.tickets += len(ids)
    report.surveys += conn.execute(survey_results.update().where(
        survey_results.c.ticket_id.in_(ids), survey_results.c.comment.is_not(None)).values(comment=None)).rowcount
    report.callback_notes += conn.execute(callback_attempts.update().where(
        callback_attempts.c.ticket_id.in_(ids), callback_attempts.c.note.is_not(None)).values(note=None)).rowcount


def _erase_conversations(conn: Connection, conversations: set[str], report: PrivacyReport,
                         events: Optional[Table]) -> None:
    if not conversations:
        return
    report.conversations += len(conversations)
    report.handoffs += conn.execute(handoffs.delete().where(handoffs.c.conversation_id.in_(conversations))).rowcount
    report.kb_questions += conn.execute(kb_answers.update().where(kb_answers.c.conversation_id.in_(conversations))
                                        .values(query=ERASED_TEXT, conversation_id="erased")).rowcount
    if events is not None:
        report.tracker_events += conn.execute(
            events.delete().where(events.c.sender_id.in_(conversations))).rowcount


def erase_phone(engine: Engine, phone: str, actor: str = "cli") -> PrivacyReport:
    """Remove everything the seat stores about the citizen with this phone number; writes an audit row.

    Conversations are found by the tickets filed with the number and by every tracker event, handoff and
    knowledge-base question that mentions it (plain, grouped, +86, full-width, Chinese numerals)."""
    digits = phone_digits(phone)
    if not digits or len(digits) < 7 or len(digits) > 12:
        raise PrivacyError(f"not a phone number: {mask_phone(phone) or '(empty)'}")
    report = PrivacyReport()
    with engine.begin() as conn:
        events = _events_table(conn)
        conversations: set[str] = set()
        if events is not None:
            for row in conn.execute(select(events.c.sender_id, events.c.data)):
                if row.sender_id not in conversations and _mentions(row.data, digits):
                    conversations.add(row.sender_id)
        for row in conn.execute(select(handoffs.c.conversation_id, handoffs.c.collected, handoffs.c.reason)):
            if _mentions(row.collected, digits) or _mentions(row.reason, digits):
                conversations.add(row.conversation_id)
        for row in conn.execute(select(kb_answers.c.conversation_id, kb_answers.c.query)):
            if _mentions(row.query, digits):
                conversations.add(row.conversation_id)
        ticket_ids = set()
        for row in conn.execute(select(tickets.c.id, tickets.c.phone, tickets.c.description, tickets.c.address,
                                       tickets.c.extra, tickets.c.conversation_id)):
            if (phone_digits(row.phone) == digits or row.conversation_id in conversations
                    or any(_mentions(v, digits) for v in (row.description, row.address, row.extra))):
                ticket_ids.add(row.id)
                conversations.add(row.conversation_id)
        for row in conn.execute(select(ticket_events.c.ticket_id, ticket_events.c.note)
                                .where(ticket_events.c.note.is_not(None))):
            if _mentions(row.note, digits):
                ticket_ids.add(row.ticket_id)
        _erase_conversations(conn, conversations, report, events)
        _anonymise_tickets(conn, ticket_ids, report, digits)
    audit.record(engine, actor, "privacy.erase", mask_phone(digits), asdict(report))
    log.info("privacy erase %s: %s", mask_phone(digits), asdict(report))
    return report


def purge(engine: Engine, retention_days: int, now: Optional[datetime] = None, actor: str = "retention") -> PrivacyReport:
    """Personal data older than the retention period: closed tickets closed before it are anonymised, and the
    conversations (tracker events, handoffs, knowledge-base questions) that ended before it are erased."""
    if retention_days < 1:
        raise PrivacyError("RETENTION_DAYS must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    report = PrivacyReport()
    with engine.begin() as conn:
        events = _events_table(conn)
        old_tickets = conn.execute(select(tickets.c.id, tickets.c.conversation_id).where(
            tickets.c.status == "closed", tickets.c.closed_at < cutoff,
            ~tickets.c.conversation_id.like("erased-%"))).all()
        conversations = {r.conversation_id for r in old_tickets}
        if events is not None:  # conversations whose last event is older than the cutoff
            conversations |= set(conn.execute(
                select(events.c.sender_id).group_by(events.c.sender_id)
                .having(func.max(events.c.timestamp) < cutoff.timestamp())).scalars())
        # Open tickets keep their conversation: the operator still needs it.
        open_conversations = set(conn.execute(select(tickets.c.conversation_id).where(
            tickets.c.status != "closed")).scalars())
        conversations -= open_conversations
        report.handoffs += conn.execute(handoffs.delete().where(handoffs.c.created_at < cutoff)).rowcount
        report.kb_questions += conn.execute(kb_answers.update().where(
            kb_answers.c.created_at < cutoff, kb_answers.c.query != ERASED_TEXT)
            .values(query=ERASED_TEXT, conversation_id="erased")).rowcount
        _erase_conversations(conn, conversations, report, events)
        _anonymise_tickets(conn, [r.id for r in old_tickets], report, None)
    audit.record(engine, actor, "privacy.purge", f"before {cutoff.date().isoformat()}", asdict(report))
    log.info("privacy purge before %s: %s", cutoff.date().isoformat(), asdict(report))
    return report
