"""One-time resolution rate: consultations the knowledge base solved / all consultations, per day or month.

A consultation is either a knowledge-base answer, or a `consultation` ticket. An answer the citizen
confirmed as solved counts as resolved at once; an answer followed by a ticket in the same conversation
counts once (as the ticket); an answer the citizen never confirmed counts as not resolved.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from ground.tables.knowledge import kb_answers
from ground.settings import HOTLINE_TZ
from ground.tables.tickets import tickets



@dataclass(frozen=True)
class ResolutionRate:
    """Counts and rate for one period (a day `YYYY-MM-DD` or a month `YYYY-MM`)."""

    period: str
    resolved_by_kb: int
    consultations: int

    @property
    def rate(self) -> float:
        return self.resolved_by_kb / self.consultations if self.consultations else 0.0


def _period(ts: datetime, by: str) -> str:
    local = ts.astimezone(HOTLINE_TZ)
    return local.strftime("%Y-%m" if by == "month" else "%Y-%m-%d")


def one_time_resolution(engine: Engine, by: str = "day", since: datetime | None = None,
                        until: datetime | None = None) -> list[ResolutionRate]:
    """The rate per period (Beijing time), oldest first."""
    if by not in ("day", "month"):
        raise ValueError("by must be 'day' or 'month'")
    answer_filter, ticket_filter = [], [tickets.c.request_type == "consultation"]
    if since:
        answer_filter.append(kb_answers.c.created_at >= since)
        ticket_filter.append(tickets.c.created_at >= since)
    if until:
        answer_filter.append(kb_answers.c.created_at < until)
        ticket_filter.append(tickets.c.created_at < until)
    with engine.connect() as conn:
        answers = conn.execute(select(kb_answers.c.conversation_id, kb_answers.c.resolved, kb_answers.c.created_at)
                               .where(and_(True, *answer_filter))).all()
        consult_tickets = conn.execute(select(tickets.c.conversation_id, tickets.c.created_at)
                                       .where(and_(*ticket_filter))).all()
    ticketed = {row.conversation_id for row in consult_tickets}
    resolved: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for row in answers:
        if row.resolved is True:
            key = _period(row.created_at, by)
            resolved[key] += 1
            total[key] += 1
        elif row.conversation_id not in ticketed:
            total[_period(row.created_at, by)] += 1
    for row in consult_tickets:
        total[_period(row.created_at, by)] += 1
    return [ResolutionRate(p, resolved[p], total[p]) for p in sorted(total)]
