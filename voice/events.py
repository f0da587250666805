"""What a call session tells its transport (AudioSocket gateway, browser WebSocket).

All events are frozen dataclasses; the transport receives them through the session's
``on_event`` coroutine, in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

END_REASONS = ("caller_hangup", "bot_hangup", "silence", "handoff", "error")


@dataclass(frozen=True)
class SessionStarted:
    """The call is set up; the greeting follows."""
    call_id: str


@dataclass(frozen=True)
class PartialTranscript:
    """Words recognised so far in the caller's current utterance (may still change)."""
    text: str


@dataclass(frozen=True)
class FinalTranscript:
    """The caller's finished utterance, repaired (nlu.asr_repair), as sent to the dialogue."""
    text: str


@dataclass(frozen=True)
class BotText:
    """One message of the bot, as text (before its audio)."""
    text: str


@dataclass(frozen=True)
class BotAudio:
    """Speech for one bot message: s16le mono PCM at `sample_rate`. The transport plays it and
    calls ``CallSession.playback_finished()`` once it has played out (or was stopped)."""
    pcm: bytes = field(repr=False)
    sample_rate: int
    text: str


@dataclass(frozen=True)
class StopPlayback:
    """Barge-in: the caller started speaking; stop playing bot audio now."""


@dataclass(frozen=True)
class Handoff:
    """The bot's part ends: a person takes over (the transport transfers or hangs up to the dialplan)."""
    reason: str
    handoff_id: Optional[int] = None  # the queued handoff (ground.store.handoffs), when the bot opened one


@dataclass(frozen=True)
class SessionEnded:
    """The session is over; reason is one of END_REASONS. The transport hangs up / closes."""
    reason: str


Event = Union[SessionStarted, PartialTranscript, FinalTranscript, BotText, BotAudio, StopPlayback,
              Handoff, SessionEnded]
