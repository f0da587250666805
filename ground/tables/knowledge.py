"""Knowledge-base tables, on the ticket store's metadata (one set of migrations)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, String, Text, func

from ground.tables.tickets import Base, UTCDateTime, utcnow

KB_STATUSES = ("active", "retired", "draft")
# How the knowledge base met a consultation: answered it, asked "您是想问……，对吗？", or had no entry.
KB_ANSWER_KINDS = ("answer", "clarify", "none")


class KbEntryModel(Base):
    """One question and its answer; paraphrases help retrieval. Only `active` entries valid today answer."""

    __tablename__ = "kb_entries"
    __table_args__ = (Index(None, "topic"), Index(None, "review_by"))

    id = Column(Integer, primary_key=True)
    entry_key = Column(String(64), nullable=False, unique=True)
    topic = Column(String(64), nullable=False)
    question = Column(Text, nullable=False)
    paraphrases: Any = Column(JSON, nullable=False, default=list)
    answer = Column(Text, nullable=False)
    department = Column(String(64), nullable=True)  # the owner unit (ground/data/units.yml)
    source = Column(Text, nullable=True)  # what the answer is based on (a regulation, an office's guide)
    review_by = Column(Date, nullable=True)  # the owner checks the answer again by this day
    valid_from = Column(Date, nullable=True)
    valid_to = Column(Date, nullable=True)
    status = Column(String(16), nullable=False, default="active", server_default="active")
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now())


class KbAnswerModel(Base):
    """One consultation the knowledge base met (answered, clarified or had nothing for), and whether the
    citizen said it solved the problem. A clarification the citizen accepts becomes the answer in place."""

    __tablename__ = "kb_answers"
    __table_args__ = (Index(None, "conversation_id"), Index(None, "created_at"))

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    entry_key = Column(String(64), nullable=True)  # the entry answered (or proposed); None: no entry fitted
    kind = Column(String(16), nullable=False, default="answer", server_default="answer")  # see KB_ANSWER_KINDS
    query = Column(Text, nullable=False)
    score = Column(Integer, nullable=False, default=0)  # retrieval score × 1000
    channel = Column(String(20), nullable=False, default="rest")
    resolved = Column(Boolean, nullable=True)  # None: the citizen did not say
    ticket_no = Column(String(32), nullable=True)  # the consultation ticket filed when not resolved
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


kb_entries = KbEntryModel.__table__
kb_answers = KbAnswerModel.__table__
