"""The custom payload with which the dialogue ends a call: ``{"end_call": EndCall.X, "reason": ...}``.

The bot sends it (handoff to a human agent, goodbye after the survey; domain.yml's responses carry
``custom: {end_call: goodbye}`` too), the voice channel hangs up or transfers on it (ground.rasa_client).
"""
from __future__ import annotations

from enum import Enum

END_CALL = "end_call"  # the payload's key
REASON = "reason"
HANDOFF_ID = "handoff_id"  # a handoff's payload names the queued handoff (the dialplan's HANDOFF_ID)


class EndCall(str, Enum):
    """What the call does once the bot's last words are said."""

    __hash__ = str.__hash__

    HANDOFF = "handoff"  # transfer to a human agent
    GOODBYE = "goodbye"  # hang up

    def __str__(self) -> str:
        return self.value


def end_call_payload(kind: EndCall, reason: str | None = None) -> dict[str, str]:
    """The json_message the bot utters to end the call."""
    payload = {END_CALL: EndCall(kind).value}
    if reason is not None:
        payload[REASON] = reason
    return payload
