"""Helpers shared by the custom actions."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from bot.intake import BOOKKEEPING_SLOTS, FORM_SLOTS

CHANNEL_NAMES = {"socketio": "web", "rest": "rest", "cmdline": "shell"}


def current_slots(tracker: Tracker) -> dict[str, Any]:
    """The intake form's slots as a plain dict."""
    return {name: tracker.get_slot(name) for name in (*FORM_SLOTS, *BOOKKEEPING_SLOTS)}


KB_SLOTS = ("kb_state", "kb_entry", "kb_query", "kb_answer_id", "kb_more", "kb_resolved")


def reset_intake() -> list[EventType]:
    """Forget the request in progress (after filing, cancelling or handing over)."""
    return [SlotSet(name, None) for name in (*FORM_SLOTS, *BOOKKEEPING_SLOTS)]


def reset_everything() -> list[EventType]:
    """Forget the request, a knowledge-base answer in progress and a status query."""
    return reset_intake() + [SlotSet(name, None) for name in (*KB_SLOTS, "status_ticket_no", "status_phone")]


def channel_of(tracker: Tracker) -> str:
    """Where the citizen talks to us: metadata from the voice gateway wins, else the Rasa input channel."""
    metadata = tracker.latest_message.get("metadata") or {}
    if metadata.get("channel"):
        return str(metadata["channel"])
    raw = tracker.get_latest_input_channel() or "rest"
    return CHANNEL_NAMES.get(raw, raw)


def latest_intent(tracker: Tracker) -> tuple[str | None, float]:
    """Name and confidence of the latest user intent."""
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)
