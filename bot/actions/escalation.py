"""Handing over to a person, emergencies, and messages the bot did not understand."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import handoff as texts
from bot import runtime
from bot.actions.common import channel_of, current_slots, reset_everything
from bot.intake import Turn, collected, looks_like_request
from ground.end_call import HANDOFF_ID, EndCall, end_call_payload
from ground.settings import current
from ground.store import handoffs
from nlu.safety import advice_for

logger = logging.getLogger(__name__)
FALLBACKS_BEFORE_HANDOFF = 2


def _now() -> datetime:
    return datetime.now(timezone.utc)


def on_duty(engine: Any, now: datetime) -> bool:
    """Inside HANDOFF_HOURS, and (with HANDOFF_REQUIRE_ONLINE=1) some operator's workspace is open."""
    settings = current().handoff
    if not settings.hours.on_duty(now):
        return False
    return not settings.require_online or handoffs.operators_online(engine, now) > 0


def place_in_queue(engine: Any, handoff_id: int, now: datetime) -> tuple[int, int]:
    """(waits before it, estimated wait in s), after giving up the waits whose citizen went silent."""
    handoffs.touch(engine, handoff_id, now)
    handoffs.mark_abandoned(engine, current().handoff.abandon_after, now)
    return handoffs.queue_position(engine, handoff_id), handoffs.estimated_wait_s(engine, handoff_id, now)


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, slots: Dict[str, Any], say: bool = True
) -> List[EventType]:
    """Put the conversation in the operators' queue (who, why, what we have so far) and tell the citizen.

    Chat: the citizen is told their place and the estimated wait, and keeps the conversation (slot
    ``handoff_id``; the waiting rule answers every message). Phone: the bot's part of the call ends with the
    handoff id in the end-call payload (the dialplan queues the call). Nobody on duty: the request is filed as a
    ticket flagged for a call back (bot/actions/waiting.py), asking first for what it lacks. Returns slot events."""
    metadata = tracker.latest_message.get("metadata") or {}
    channel, now = channel_of(tracker), _now()
    call_id = metadata.get("call_id") if channel == "voice" else None
    try:
        engine = runtime.ticket_store_engine()
        handoff = await runtime.in_thread(handoffs.open_handoff, engine, tracker.sender_id, reason,
                                          collected(slots), channel, call_id=call_id, now=now)
        staffed = await runtime.in_thread(on_duty, engine, now)
    except Exception:  # the citizen still gets a person; the operator sees the error
        logger.exception("could not record the handoff of conversation %s", tracker.sender_id)
        if say:
            dispatcher.utter_message(response="utter_handoff")
        dispatcher.utter_message(json_message=end_call_payload(EndCall.HANDOFF, reason))
        return []
    logger.info("handoff %s of conversation %s: %s", handoff.id, tracker.sender_id, reason)
    if not staffed:
        from bot.actions.waiting import after_hours  # waiting builds on this module

        return await after_hours(dispatcher, tracker, handoff, slots, metadata)
    events: List[EventType] = [SlotSet("handoff_id", str(handoff.id))]
    if channel == "voice":
        if say:
            dispatcher.utter_message(response="utter_handoff")
        # machine-readable for the voice gateway: the bot's part of the call ends, the dialplan queues it
        dispatcher.utter_message(json_message={**end_call_payload(EndCall.HANDOFF, reason),
                                               HANDOFF_ID: handoff.id})
        return events
    position, wait_s = await runtime.in_thread(place_in_queue, engine, handoff.id, now)
    dispatcher.utter_message(text=texts.waiting_message(position, wait_s))
    return events


def _end_loop() -> List[EventType]:
    """Leave the form; what was collected stays in the slots for the operator's ticket form (reset when the
    handoff ends: cancel, call-back ticket, or the operator's close)."""
    return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionHandoff(Action):
    """The citizen asked for a person (转人工)."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events = _end_loop()
        return events + await hand_over(dispatcher, tracker, "citizen asked for a human agent", current_slots(tracker))


class ActionEmergency(Action):
    """Danger now: no ticket, one short message with the number to call."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(text=advice_for(tracker.latest_message.get("text") or ""))
        logger.warning("emergency reported in conversation %s: told to call the emergency number", tracker.sender_id)
        return _end_loop() + reset_everything()


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


class ActionFallback(Action):
    """Not understood: ask to rephrase; the second time in a row, hand over to a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        turn = Turn(text=tracker.latest_message.get("text") or "", intent="nlu_fallback",
                    ranking=tracker.latest_message.get("intent_ranking") or [])
        if looks_like_request(turn):  # unsure of the words, but it describes something to file
            return [FollowupAction("ticket_form")]
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF:
            events = _end_loop()
            return events + await hand_over(dispatcher, tracker, "two failed understandings in a row",
                                            current_slots(tracker))
        dispatcher.utter_message(response="utter_not_understood")
        return []
