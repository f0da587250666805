"""Filing the confirmed ticket, and cancelling a request in progress."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import runtime
from bot.actions.common import channel_of, current_slots, reset_everything, reset_intake
from bot.actions.escalation import hand_over
from bot.dispatch import suggest_unit
from bot.intake import DECLINED
from bot.readback import ticket_filed
from ground.store.spool import SpoolError
from ground.store.tickets import TicketDraft, TicketStoreError

logger = logging.getLogger(__name__)
# The database is down and the request is kept on disk (ground/store/spool.py): no ticket number can be given yet.
SPOOLED = "抱歉，系统暂时无法登记工单。您的诉求已经完整保存，系统恢复后会自动登记并转交办理，您无需重复反映。"
NOT_FILED_HANDOFF = "抱歉，系统暂时无法登记，正在为您转接人工客服。"


def draft_from_slots(slots: dict, conversation_id: str, channel: str):
    """The ticket the citizen confirmed, with the suggested unit."""
    occurred = slots.get("occurred_at")
    return TicketDraft(
        request_type=slots["request_type"],
        description=slots.get("description") or "",
        conversation_id=conversation_id,
        request_key=slots["request_key"],
        category=slots.get("category") or "其他",
        district=slots.get("district"),
        street=slots.get("street"),
        address=slots.get("address") or None,
        occurred_at=datetime.fromisoformat(occurred) if occurred else None,
        contact_name=None if slots.get("contact_name") in (None, DECLINED) else slots["contact_name"],
        phone=slots.get("phone"),
        confidential=bool(slots.get("confidential")),
        channel=channel,
        assigned_unit=suggest_unit(slots.get("category"), slots.get("request_type"), slots.get("district"), slots.get("street")),
    )


class ActionSubmitTicket(Action):
    """Writes the ticket once (idempotent per conversation and request) and tells its number."""

    def name(self) -> Text:
        return "action_submit_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        slots = current_slots(tracker)
        if tracker.get_slot("handoff_id"):
            return []  # handed over: what was collected stays for the operator's ticket form
        if slots.get("confirmed") is not True or not slots.get("request_key"):
            return reset_intake()  # the form ended without a ticket (outside Beijing)
        draft = draft_from_slots(slots, tracker.sender_id, channel_of(tracker))
        try:
            ticket = await runtime.in_thread(runtime.ticket_store().create_ticket, draft)
        except TicketStoreError:  # the store refused the data: a person looks at it
            logger.exception("the store refused the ticket of conversation %s", tracker.sender_id)
            dispatcher.utter_message(text=NOT_FILED_HANDOFF)
            return reset_intake() + await hand_over(dispatcher, tracker, "ticket store error", slots, say=False)
        except Exception as exc:  # the database is unreachable: keep the draft on disk, written when it is back
            logger.error("could not write the ticket of conversation %s (%s): spooling it", tracker.sender_id,
                         type(exc).__name__)
            try:
                await runtime.in_thread(runtime.spool().put_ticket, draft)
            except SpoolError:
                logger.exception("could not spool the ticket of conversation %s either", tracker.sender_id)
                dispatcher.utter_message(text=NOT_FILED_HANDOFF)
                return reset_intake() + await hand_over(dispatcher, tracker, "ticket store and spool error", slots,
                                                        say=False)
            dispatcher.utter_message(text=SPOOLED)
            return reset_everything()
        logger.info("ticket %s filed for conversation %s (%s)", ticket.ticket_no, tracker.sender_id, draft.channel)
        dispatcher.utter_message(text=ticket_filed(ticket.ticket_no, draft.request_type, draft.confidential))
        return reset_everything() + [SlotSet("ticket_no", ticket.ticket_no)]


class ActionCancelRequest(Action):
    """Cancels the request in progress: nothing is written."""

    def name(self) -> Text:
        return "action_cancel_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "cancel":
            dispatcher.utter_message(response="utter_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + reset_everything()
