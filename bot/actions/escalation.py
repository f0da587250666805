"""Handing over to a person, emergencies, and messages the bot did not understand."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import runtime
from bot.actions.common import channel_of, current_slots, reset_everything
from bot.intake import Turn, collected, looks_like_request
from ground.end_call import EndCall, end_call_payload
from ground.store.spool import SpoolError
from nlu.safety import advice_for

logger = logging.getLogger(__name__)
FALLBACKS_BEFORE_HANDOFF = 2


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, slots: Dict[str, Any], say: bool = True
) -> None:
    """Store a handoff event (who, why, what we have so far) and tell the citizen a person takes over."""
    try:
        await runtime.in_thread(
            runtime.ticket_store().record_handoff,
            tracker.sender_id, reason, collected(slots), channel_of(tracker),
        )
    except Exception as exc:  # the citizen still gets a person; the record waits on disk for the database
        logger.error("could not record the handoff of conversation %s (%s): spooling it", tracker.sender_id,
                     type(exc).__name__)
        try:
            await runtime.in_thread(runtime.spool().put_handoff, tracker.sender_id, reason, collected(slots),
                                    channel_of(tracker))
        except SpoolError:
            logger.exception("could not spool the handoff of conversation %s either", tracker.sender_id)
    logger.info("handoff of conversation %s: %s", tracker.sender_id, reason)
    if say:
        dispatcher.utter_message(response="utter_handoff")
    # machine-readable for the voice gateway: the bot's part of the call ends, the dialplan queues it
    dispatcher.utter_message(json_message=end_call_payload(EndCall.HANDOFF, reason))


def _end_loop() -> List[EventType]:
    return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_everything()


class ActionHandoff(Action):
    """The citizen asked for a person (转人工)."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        await hand_over(dispatcher, tracker, "citizen asked for a human agent", current_slots(tracker))
        return _end_loop()


class ActionEmergency(Action):
    """Danger now: no ticket, one short message with the number to call."""

    def name(self) -> Text:
        return "action_emergency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(text=advice_for(tracker.latest_message.get("text") or ""))
        logger.warning("emergency reported in conversation %s: told to call the emergency number", tracker.sender_id)
        return _end_loop()


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
            await hand_over(dispatcher, tracker, "two failed understandings in a row", current_slots(tracker))
            return _end_loop()
        dispatcher.utter_message(response="utter_not_understood")
        return []
