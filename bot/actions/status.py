"""Ticket status query: ticket number and the phone it was filed with, never anyone else's data."""
from __future__ import annotations

import logging
from typing import List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import runtime
from bot.status import status_message
from ground.store import TooManyLookups
from nlu.phone import extract_phone
from nlu.ticketno import extract_ticket_no

logger = logging.getLogger(__name__)

MAX_TRIES = 3
TOO_MANY_LOOKUPS = "这个电话今天查询失败的次数太多了，为保护您的信息，请明天再查，或者说转人工。"


LEAVE_TO_RULES = {"human_handoff", "cancel", "emergency"}


class ValidateStatusForm(FormValidationAction):
    """Fills the ticket number and phone from whatever the citizen says, spoken digits included."""

    def name(self) -> Text:
        return "validate_status_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        text = tracker.latest_message.get("text") or ""
        requested = tracker.get_slot("requested_slot")
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in LEAVE_TO_RULES and not extract_ticket_no(text):
            return []  # not an answer: the form is rejected and the rules hand over / cancel / help
        events: List[EventType] = []
        ticket_no = extract_ticket_no(text)
        if ticket_no and (requested in (None, "status_ticket_no") or not tracker.get_slot("status_ticket_no")):
            events.append(SlotSet("status_ticket_no", ticket_no))
        phone = extract_phone(text.replace(ticket_no or "\0", "") if ticket_no else text)
        if phone.phone and requested != "status_ticket_no":
            events.append(SlotSet("status_phone", phone.phone))
        elif requested == "status_phone" and phone.error:
            dispatcher.utter_message(text=phone.error)
        if requested == "status_ticket_no" and not ticket_no:
            dispatcher.utter_message(text="工单编号是十四位数字，比如二零二六一一二六，零零零一二三。")
        filled = {e["name"]: e["value"] for e in events}
        slots = {s: filled.get(s, tracker.get_slot(s)) for s in ("status_ticket_no", "status_phone")}
        nxt = next((s for s in ("status_ticket_no", "status_phone") if not slots[s]), None)
        if requested and not events:
            tries = int(tracker.get_slot("reprompts") or 0) + 1
            if tries >= MAX_TRIES:
                dispatcher.utter_message(text="没能核对到您的工单信息，您可以稍后再查询，或者说转人工。")
                return [SlotSet("reprompts", None), SlotSet("requested_slot", None)]
            events.append(SlotSet("reprompts", float(tries)))
        return events + [SlotSet("requested_slot", nxt)]


class ActionTicketStatus(Action):
    """Tells the status and last update of the citizen's own ticket."""

    def name(self) -> Text:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        ticket_no, phone = tracker.get_slot("status_ticket_no"), tracker.get_slot("status_phone")
        reset = [SlotSet("status_ticket_no", None), SlotSet("status_phone", None), SlotSet("reprompts", None)]
        if not ticket_no or not phone:
            return reset
        store = runtime.ticket_store()
        try:
            ticket = await runtime.in_thread(store.find_for_citizen, ticket_no, phone)
        except TooManyLookups:
            dispatcher.utter_message(text=TOO_MANY_LOOKUPS)
            return reset
        if ticket is None:
            dispatcher.utter_message(text="没有查到与这个编号和电话都匹配的工单，请核对后再试，或者说转人工。")
            return reset
        events = await runtime.in_thread(store.events, ticket_no)
        dispatcher.utter_message(text=status_message(ticket, events))
        return reset

