"""Callback tables (satisfaction surveys after closure), on the ticket store's metadata.

``callback_attempts``: one row per try to reach the citizen (voice call or chat survey), with the
claim (``claimed_by`` + ``lease_until``) a worker holds while the call runs. ``survey_results``: at
most one row per ticket (partial answers are kept; ``completed_at`` is set once). ``survey_opt_outs``:
SHA-256 of phone numbers never to be called back.
"""
from __future__ import annotations

from enum import Enum

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint

from ground.tables.tickets import Base, UTCDateTime, in_list, utcnow



class _StrEnum(str, Enum):
    """A str-valued Enum that compares, hashes and prints as its value (the value is what the database holds)."""

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value


class TryOutcome(_StrEnum):
    """How a survey try ended (``callback_attempts.outcome``)."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    REFUSED = "refused"
    WRONG_PERSON = "wrong_person"
    SKIPPED = "skipped"


class SurveyChannel(_StrEnum):
    """Where a survey try runs (``callback_attempts.channel``)."""

    VOICE = "voice"
    CHAT = "chat"


OUTCOMES: tuple[str, ...] = tuple(o.value for o in TryOutcome)
CHANNELS: tuple[str, ...] = tuple(c.value for c in SurveyChannel)
SATISFACTION: tuple[str, ...] = ("satisfied", "basically_satisfied", "unsatisfied")

class CallbackAttemptModel(Base):
    """One try to survey a ticket. ``outcome`` is NULL while due, running or (chat) waiting."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("ticket_id", "attempt"),
        CheckConstraint(in_list("outcome", OUTCOMES), name="outcome"),
        CheckConstraint(in_list("channel", CHANNELS), name="channel"),
        Index(None, "outcome", "scheduled_at"),
        Index(None, "call_id"),
    )

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False)
    attempt = Column(Integer, nullable=False)  # 1, 2, ... (0: the ticket is not surveyed, outcome skipped)
    channel = Column(String(10), nullable=False)
    scheduled_at = Column(UTCDateTime(), nullable=False)
    started_at = Column(UTCDateTime(), nullable=True)
    ended_at = Column(UTCDateTime(), nullable=True)
    outcome = Column(String(20), nullable=True)
    reported_outcome = Column(String(20), nullable=True)  # what the survey dialogue heard (busy, wrong_person ...)
    counted = Column(Boolean, nullable=False, default=True)  # False: lost with its worker, not a real try
    claimed_by = Column(String(100), nullable=True)
    lease_until = Column(UTCDateTime(), nullable=True)
    call_id = Column(String(64), nullable=True)
    note = Column(Text, nullable=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class SurveyResultModel(Base):
    """The citizen's answers for a ticket: one row per ticket, complete once ``completed_at`` is set."""

    __tablename__ = "survey_results"
    __table_args__ = (
        UniqueConstraint("ticket_id"),
        CheckConstraint(in_list("satisfaction", SATISFACTION), name="satisfaction"),
        Index(None, "completed_at"),
    )

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), nullable=False)
    attempt_id = Column(Integer, ForeignKey("callback_attempts.id"), nullable=True)
    responded = Column(Boolean, nullable=True)  # did the unit contact the citizen
    resolved = Column(Boolean, nullable=True)
    satisfaction = Column(String(20), nullable=True)
    comment = Column(Text, nullable=True)
    channel = Column(String(10), nullable=False)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    completed_at = Column(UTCDateTime(), nullable=True)


class SurveyOptOutModel(Base):
    """A phone number that asked never to be called back: HMAC-SHA-256 of its digits under OPT_OUT_SECRET (the
    column keeps its old name; migration 0007 (opt-out HMAC) re-keyed the plain SHA-256 rows)."""

    __tablename__ = "survey_opt_outs"

    phone_sha256 = Column(String(64), primary_key=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


callback_attempts = CallbackAttemptModel.__table__
survey_results = SurveyResultModel.__table__
survey_opt_outs = SurveyOptOutModel.__table__
