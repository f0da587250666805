"""The intake form: validation (which fills several slots from one message) and its two questions."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import intake
from bot.actions.common import current_slots, latest_intent
from bot.actions.escalation import hand_over
from bot.readback import category_question, readback

logger = logging.getLogger(__name__)


class ValidateTicketForm(FormValidationAction):
    """Runs `bot.intake.step` on every message while the intake form is active."""

    def name(self) -> Text:
        return "validate_ticket_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        intent, confidence = latest_intent(tracker)
        slots = current_slots(tracker)
        turn = intake.Turn(
            text=tracker.latest_message.get("text") or "",
            intent=intent,
            confidence=confidence,
            ranking=tracker.latest_message.get("intent_ranking") or [],
            requested_slot=tracker.get_slot("requested_slot"),
            now=datetime.now(timezone.utc),
        )
        outcome = intake.step(slots, turn)
        if outcome.reject:
            logger.debug("intake form leaves %r to the rules (intent %s)", turn.requested_slot, intent)
            return []
        for text in outcome.say:
            dispatcher.utter_message(text=text)
        events: List[EventType] = [SlotSet(k, v) for k, v in outcome.changes.items()]
        if outcome.end:
            events += await self._end(outcome.end, dispatcher, tracker, {**slots, **outcome.changes})
            return events + [SlotSet("requested_slot", None)]
        merged = {**slots, **outcome.changes}
        return events + [SlotSet("requested_slot", intake.next_slot(merged))]

    async def _end(
        self, reason: str, dispatcher: CollectingDispatcher, tracker: Tracker, slots: Dict[str, Any]
    ) -> List[EventType]:
        """End the form without a ticket: outside Beijing, or a person takes over."""
        if reason == "outside_beijing":
            dispatcher.utter_message(response="utter_outside_beijing")
            return [SlotSet("end_reason", reason)]
        return [SlotSet("end_reason", reason)] + await hand_over(
            dispatcher, tracker, "two failed understandings in a row", slots)


class ActionAskConfirmed(Action):
    """Reads the ticket back for confirmation, or asks what to correct."""

    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if tracker.get_slot("correction_pending"):
            dispatcher.utter_message(response="utter_ask_what_to_correct")
        else:
            dispatcher.utter_message(text=readback(current_slots(tracker)))
        return []


class ActionAskCategory(Action):
    """Asks for the category only when the classifier is unsure, with at most three choices."""

    def name(self) -> Text:
        return "action_ask_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        choices = list(tracker.get_slot("category_choices") or [])[:3]
        dispatcher.utter_message(text=category_question(choices or ["其他"]))
        return []


class ActionAskPhone(Action):
    """Asks for the contact phone; on a call with a known caller number, offers that number first."""

    def name(self) -> Text:
        return "action_ask_phone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        metadata = tracker.latest_message.get("metadata") or {}
        offer = intake.caller_offer(current_slots(tracker), metadata.get("caller"))
        if offer is None:
            dispatcher.utter_message(response="utter_ask_phone")
            return []
        dispatcher.utter_message(text=intake.caller_offer_question(offer))
        return [SlotSet("phone_offer", offer)]
