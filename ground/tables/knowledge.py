"""Knowledge-base tables, on the ticket store's metadata (one set of migrations)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, Index, Integer, String, Text, func

from ground.tables.tickets import Base, UTCDateTime, utcnow

KB_STATUSES = ("active", "retired", "draft")


class KbEntryModel(Base):
    """One question and its answer; paraphrases help retrieval. Only `active` entries valid today answer."""

    __tablename__ = "kb_entries"
    __table_args__ = (Index(None, "topic"),)

    id = Column(Integer, primary_key=True)
    entry_key = Column(String(64), nullable=False, unique=True)
    topic = Column(String(64), nullable=False)
    question = Column(Text, nullable=False)
    paraphrases: Any = Column(JSON, nullable=False, default=list)
    answer = Column(Text, nullable=False)
    department = Column(String(64), nullable=True)
    valid_from = Column(Date, nullable=True)
    valid_to = Column(Date, nullable=True)
    status = Column(String(16), nullable=False, default="active", server_default="active")
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now())


class KbAnswerModel(Base):
    """A consultation the knowledge base answered, and whether the citizen said it solved the problem."""

    __tablename__ = "kb_answers"
    __table_args__ = (Index(None, "conversation_id"), Index(None, "created_at"))

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False)
    entry_key = Column(String(64), nullable=False)
    query = Column(Text, nullable=False)
    score = Column(Integer, nullable=False, default=0)  # retrieval score × 1000
    channel = Column(String(20), nullable=False, default="rest")
    resolved = Column(Boolean, nullable=True)  # None: the citizen did not say
    ticket_no = Column(String(32), nullable=True)  # the consultation ticket filed when not resolved
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, server_default=func.now())


kb_entries = KbEntryModel.__table__
kb_answers = KbAnswerModel.__table__
