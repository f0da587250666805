"""While the citizen waits for a person (slot ``handoff_id`` set, the conversation not paused by an operator):
every message gets its place in the queue, "取消 / 不等了" ends the wait; with nobody on duty the request is
filed as a ticket flagged for a call back once it has a description and a phone number."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import handoff as texts
from bot import runtime
from bot.actions.common import channel_of, current_slots, latest_intent, reset_everything
from bot.actions.escalation import on_duty, place_in_queue
from bot.actions.submit import draft_from_slots
from bot.intake import _categorise
from ground.settings import current
from ground.store import Handoff, handoffs
from nlu.safety import advice_for

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _end_wait() -> List[EventType]:
    return reset_everything() + [SlotSet("handoff_id", None)]


def _callback_slots(slots: Dict[str, Any], handoff: Handoff, caller: Optional[str]) -> Dict[str, Any]:
    """The slots of the call-back ticket: what was collected, the caller's number on the phone, defaults."""
    merged = {**{k: v for k, v in handoff.collected.items() if v is not None}, **{k: v for k, v in slots.items()
                                                                                  if v is not None}}
    if not merged.get("phone") and caller:
        merged["phone"] = caller
    merged.setdefault("request_type", texts.CALLBACK_REQUEST_TYPE)
    if merged.get("description") and not merged.get("category"):
        merged.update({k: v for k, v in _categorise(merged["description"]).items() if v is not None})
    merged["request_key"] = f"handoff-{handoff.id}"
    return merged


async def _file_callback(dispatcher: CollectingDispatcher, tracker: Tracker, handoff: Handoff,
                         slots: Dict[str, Any]) -> Optional[str]:
    """Write the call-back ticket and keep the handoff in the queue with it; the ticket number, or None."""
    draft = draft_from_slots(slots, tracker.sender_id, channel_of(tracker))
    draft.extra = {"call_back": True, "handoff_id": handoff.id, "handoff_reason": handoff.reason}
    try:
        ticket = await runtime.in_thread(runtime.ticket_store().create_ticket, draft)
        await runtime.in_thread(handoffs.mark_callback, runtime.ticket_store_engine(), handoff.id,
                                ticket.ticket_no, _now())
    except Exception:
        logger.exception("could not file the call-back ticket of handoff %s", handoff.id)
        dispatcher.utter_message(text="抱歉，系统暂时无法登记，请稍后再联系12345。")
        return None
    logger.info("handoff %s after hours: call-back ticket %s", handoff.id, ticket.ticket_no)
    dispatcher.utter_message(text=texts.callback_filed(ticket.ticket_no))
    return ticket.ticket_no


async def after_hours(dispatcher: CollectingDispatcher, tracker: Tracker, handoff: Handoff, slots: Dict[str, Any],
                      metadata: Dict[str, Any]) -> List[EventType]:
    """Nobody on duty: say so; file the call-back ticket now if it has what it needs (on the phone: the caller's
    number, and a note when nothing was described), else ask for it and keep the wait open to collect it."""
    hours = current().handoff.hours.spoken()
    voice = channel_of(tracker) == "voice"
    merged = _callback_slots(slots, handoff, metadata.get("caller") if voice else None)
    if voice and not merged.get("description"):
        merged["description"] = texts.CALLBACK_DESCRIPTION_VOICE
    missing = texts.missing_for_callback(merged)
    dispatcher.utter_message(text=texts.after_hours(hours, missing))
    if missing and not voice:
        return [SlotSet("handoff_id", str(handoff.id))]
    if not missing:
        await _file_callback(dispatcher, tracker, handoff, merged)
    if voice:
        dispatcher.utter_message(response="utter_goodbye")  # carries end_call goodbye: the call ends
    return _end_wait()


class ActionHandoffWait(Action):
    """Every message while waiting for a person."""

    def name(self) -> Text:
        return "action_handoff_wait"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        engine, now = runtime.ticket_store_engine(), _now()
        try:
            handoff = await runtime.in_thread(handoffs.get, engine, int(float(tracker.get_slot("handoff_id"))))
        except (TypeError, ValueError):
            handoff = None
        if handoff is None or not handoff.is_open or (handoff.status == "waiting" and not handoff.live):
            gone = handoff is not None and handoff.status == "abandoned"
            dispatcher.utter_message(text=texts.GAVE_UP if gone else texts.ENDED)
            return _end_wait()
        if handoff.status == "claimed":
            return []  # an operator has it (the conversation is being paused): the operator answers
        intent, _ = latest_intent(tracker)
        text = tracker.latest_message.get("text") or ""
        if intent == "emergency":
            dispatcher.utter_message(text=advice_for(text))
        staffed = await runtime.in_thread(on_duty, engine, now)
        slots = current_slots(tracker)
        collecting = not staffed and bool(texts.missing_for_callback(_callback_slots(slots, handoff, None)))
        turn = texts.wait_turn(text, intent, slots, collecting)
        if turn.cancel:
            await runtime.in_thread(handoffs.cancel, engine, tracker.sender_id, now)
            logger.info("handoff %s cancelled by the citizen", handoff.id)
            dispatcher.utter_message(text=texts.CANCELLED)
            return _end_wait()
        if not staffed:
            merged = {**_callback_slots(slots, handoff, None), **turn.changes}
            missing = texts.missing_for_callback(merged)
            if missing:
                dispatcher.utter_message(text=texts.ask_missing(missing))
                return [SlotSet(k, v) for k, v in turn.changes.items()]
            await _file_callback(dispatcher, tracker, handoff, merged)
            return _end_wait()
        position, wait_s = await runtime.in_thread(place_in_queue, engine, handoff.id, now)
        dispatcher.utter_message(text=texts.waiting_ack(position, wait_s))
        return []
