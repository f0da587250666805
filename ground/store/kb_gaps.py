"""Knowledge gaps as stored: the consultations the knowledge base did not solve.

A consultation is a gap when it ended in a consultation ticket (the knowledge base had no answer, the
citizen turned the guessed question down, or said the answer did not help) or when the citizen said the
answer did not solve it ("没解决"). One consultation is one gap question even when it left both an
unsolved answer and a ticket. Grouping similar questions needs retrieval and lives in
admin.services.kb_gaps.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from ground.tables.knowledge import kb_answers
from ground.tables.tickets import tickets

_ANSWERED_NOTE = re.compile(r"（已答复：.*?）$|（另问：.*?）")


@dataclass(frozen=True)
class GapQuestion:
    """One unsolved consultation: the citizen's question and how it ended."""

    query: str
    conversation_id: str
    created_at: datetime
    answered_with: Optional[str] = None  # the entry the knowledge base answered with, if it answered
    ticket_no: Optional[str] = None


def question_key(text: str) -> str:
    """The question without punctuation or spaces (two records of one question compare equal)."""
    return re.sub(r"[\W_]+", "", text or "")


def gap_questions(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> list[GapQuestion]:
    """The unsolved consultations (newest first), one per conversation and question. Unmasked: the
    console masks them before showing."""
    answer_filter = [or_(kb_answers.c.resolved.is_(False), kb_answers.c.ticket_no.isnot(None))]
    ticket_filter = [tickets.c.request_type == "consultation"]
    if since:
        answer_filter.append(kb_answers.c.created_at >= since)
        ticket_filter.append(tickets.c.created_at >= since)
    if until:
        answer_filter.append(kb_answers.c.created_at < until)
        ticket_filter.append(tickets.c.created_at < until)
    with engine.connect() as conn:
        answers = conn.execute(select(kb_answers.c.conversation_id, kb_answers.c.query, kb_answers.c.entry_key,
                                      kb_answers.c.ticket_no, kb_answers.c.created_at)
                               .where(and_(*answer_filter)).order_by(kb_answers.c.created_at)).all()
        consults = conn.execute(select(tickets.c.conversation_id, tickets.c.description, tickets.c.ticket_no,
                                       tickets.c.created_at).where(and_(*ticket_filter))
                                .order_by(tickets.c.created_at)).all()
    found: dict[tuple[str, str], GapQuestion] = {}
    unsolved_in: dict[str, GapQuestion] = {}
    for row in answers:
        q = GapQuestion(row.query.strip(), row.conversation_id, row.created_at, row.entry_key, row.ticket_no)
        found[(row.conversation_id, question_key(q.query))] = q
        unsolved_in[row.conversation_id] = q
    for row in consults:
        query = _ANSWERED_NOTE.sub("", row.description or "").strip()
        if not query:
            continue
        earlier = unsolved_in.get(row.conversation_id)
        if earlier and (question_key(earlier.query) in question_key(query)
                        or question_key(query) in question_key(earlier.query)):
            # the answer that did not help and the ticket that followed it are one consultation
            found[(row.conversation_id, question_key(earlier.query))] = GapQuestion(
                earlier.query, earlier.conversation_id, earlier.created_at, earlier.answered_with, row.ticket_no)
            continue
        found.setdefault((row.conversation_id, question_key(query)),
                         GapQuestion(query, row.conversation_id, row.created_at, None, row.ticket_no))
    return sorted(found.values(), key=lambda q: q.created_at, reverse=True)
