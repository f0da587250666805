"""Ticket queries for the console: filtered lists, and the conversation from Rasa's tracker store."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, column, func, or_, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ground.settings import HOTLINE_TZ
from ground.tables.tickets import Ticket, TicketModel

FILTERS = ("status", "request_type", "category", "district", "channel", "assigned_unit")
PAGE_SIZE = 50

# Rasa's SQLTrackerStore table (seat.rasa_stores.DatabaseUrlTrackerStore writes it; sender_id is the
# conversation id). A lightweight table clause: not part of the seat's metadata or migrations.
rasa_events = table("events", column("id"), column("sender_id"), column("type_name"), column("timestamp"),
                    column("data"))


@dataclass(frozen=True)
class TicketQuery:
    status: str = ""
    request_type: str = ""
    category: str = ""
    district: str = ""
    channel: str = ""
    assigned_unit: str = ""
    date_from: str = ""
    date_to: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Any) -> "TicketQuery":
        values = {k: str(params.get(k, "")).strip() for k in (*FILTERS, "date_from", "date_to", "q")}
        try:
            page = max(int(params.get("page", "1")), 1)
        except ValueError:
            page = 1
        return cls(**values, page=page)


def _day_start(text: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(text), time(), HOTLINE_TZ)
    except ValueError:
        return None


def find_tickets(engine: Engine, query: TicketQuery) -> tuple[list[Ticket], int]:
    """One page of tickets matching the filters (newest first), and how many match in all."""
    conditions = [getattr(TicketModel, f) == getattr(query, f) for f in FILTERS if getattr(query, f)]
    start, end = _day_start(query.date_from), _day_start(query.date_to)
    if start:
        conditions.append(TicketModel.created_at >= start)
    if end:
        conditions.append(TicketModel.created_at < end + timedelta(days=1))
    if query.q:
        like = "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(TicketModel.ticket_no.like(like, escape="\\"),
                              TicketModel.description.like(like, escape="\\"),
                              TicketModel.address.like(like, escape="\\"),
                              TicketModel.category.like(like, escape="\\")))
    where = and_(True, *conditions)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(TicketModel.__table__).where(where)).scalar_one()
        rows = conn.execute(select(TicketModel.__table__).where(where)
                            .order_by(TicketModel.created_at.desc(), TicketModel.id.desc())
                            .limit(PAGE_SIZE).offset((query.page - 1) * PAGE_SIZE)).all()
    return [Ticket(**dict(r._mapping)) for r in rows], int(total)


def filter_choices(engine: Engine) -> dict[str, list[str]]:
    """The values present for each filter, for the select boxes."""
    result = {}
    with engine.connect() as conn:
        for name in FILTERS:
            col = getattr(TicketModel, name)
            result[name] = [v for (v,) in conn.execute(select(col).where(col.isnot(None)).distinct().order_by(col))]
    return result


@dataclass(frozen=True)
class Turn:
    speaker: str   # 市民 / 机器人
    text: str
    at: datetime


def transcript(engine: Engine, conversation_id: str) -> list[Turn]:
    """What the citizen and the bot said in the conversation, in order (empty if none is stored)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(rasa_events.c.type_name, rasa_events.c.timestamp, rasa_events.c.data)
                                .where(rasa_events.c.sender_id == conversation_id,
                                       rasa_events.c.type_name.in_(("user", "bot")))
                                .order_by(rasa_events.c.id)).all()
    except SQLAlchemyError:  # no tracker store table (Rasa never ran on this database)
        return []
    turns = []
    for row in rows:
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            data = {}
        text = data.get("text") or ""
        if not text:
            continue
        at = datetime.fromtimestamp(float(row.timestamp or 0), tz=HOTLINE_TZ)
        turns.append(Turn("市民" if row.type_name == "user" else "机器人", text, at))
    return turns
