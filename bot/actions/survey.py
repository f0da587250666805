"""The satisfaction survey: the greeting opens a pending survey (voice call metadata or a chat survey waiting
for this sender), the form asks its questions, the end records the result (see bot/survey.py)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import runtime, survey
from ground.end_call import EndCall, end_call_payload
from ground.settings import current
from ground.store import surveys
from ground.store.survey_tries import end_try

logger = logging.getLogger(__name__)
ALL_SLOTS = (*survey.SURVEY_SLOTS, *survey.CONTEXT_SLOTS, *survey.BOOKKEEPING_SLOTS)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _voice(tracker: Tracker) -> bool:
    return tracker.get_slot("survey_channel") == "voice"


def _answers(tracker: Tracker, changes: Dict[str, Any] | None = None) -> Dict[str, Any]:
    return {**{s: tracker.get_slot(s) for s in survey.SURVEY_SLOTS}, **(changes or {})}


class ActionGreet(Action):
    """Greets, unless this conversation has a survey to run: then the survey opens instead."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        metadata = tracker.latest_message.get("metadata") or {}
        pending = None
        try:
            pending = await runtime.in_thread(surveys.survey_for, runtime.ticket_store_engine(), tracker.sender_id, metadata)
        except Exception:  # the greeting must never fail because of the survey lookup
            logger.exception("survey lookup failed for %s", tracker.sender_id)
        if pending is None:
            dispatcher.utter_message(response="utter_greet")
            return [SlotSet("survey_state", "greeted")]
        logger.info("conversation %s opens the survey of ticket %s (attempt %s)",
                    tracker.sender_id, pending.ticket_no, pending.attempt_id)
        return [SlotSet(s, None) for s in ALL_SLOTS] + [
            SlotSet("survey_state", "open"),
            SlotSet("survey_attempt", float(pending.attempt_id)),
            SlotSet("survey_ticket", pending.ticket_no),
            SlotSet("survey_channel", pending.channel),
            SlotSet("survey_category", None if pending.confidential else pending.category),
            SlotSet("survey_confidential", pending.confidential),
        ]


class ValidateSurveyForm(FormValidationAction):
    """Runs `bot.survey.step` on every message; answers are stored as they come."""

    def name(self) -> Text:
        return "validate_survey_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        message = tracker.latest_message
        dtmf = (message.get("metadata") or {}).get("input") == "dtmf"
        slots = {s: tracker.get_slot(s) for s in ALL_SLOTS}
        outcome = survey.step(slots, tracker.get_slot("requested_slot"), message.get("text") or "", dtmf)
        for text in outcome.say:
            dispatcher.utter_message(text=text)
        answered = {k: v for k, v in outcome.changes.items() if k in survey.SURVEY_SLOTS[1:]}
        attempt = tracker.get_slot("survey_attempt")
        if answered and attempt is not None and outcome.outcome != "completed":
            await runtime.in_thread(surveys.record_answers, runtime.ticket_store_engine(), int(attempt),
                                    _answers(tracker, answered), _now())
        return [SlotSet(k, v) for k, v in outcome.changes.items()] + [SlotSet("requested_slot", outcome.next_slot)]


class _AskSurvey(Action):
    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(text=survey.question(self.slot, _voice(tracker)))
        return []


class ActionAskSurveyConsent(_AskSurvey):
    """The opening sentence: who calls, which ticket, may we ask."""

    slot = "survey_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(text=survey.intro(
            tracker.get_slot("survey_ticket") or "", tracker.get_slot("survey_category"),
            bool(tracker.get_slot("survey_confidential")), _voice(tracker)))
        return []


class ActionAskSurveyContacted(_AskSurvey):
    slot = "survey_contacted"


class ActionAskSurveyResolved(_AskSurvey):
    slot = "survey_resolved"


class ActionAskSurveySatisfaction(_AskSurvey):
    slot = "survey_satisfaction"


class ActionAskSurveyReason(_AskSurvey):
    slot = "survey_reason"


class ActionSurveyDone(Action):
    """Records how the survey ended, says goodbye (a call is hung up after it) and clears the survey."""

    def name(self) -> Text:
        return "action_survey_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        outcome = tracker.get_slot("survey_outcome") or "failed"
        attempt = tracker.get_slot("survey_attempt")
        goodbye = outcome
        if attempt is not None:
            goodbye = await runtime.in_thread(_record, int(attempt), outcome, _answers(tracker),
                                              tracker.get_slot("survey_channel") or "voice")
        dispatcher.utter_message(text=survey.GOODBYES[goodbye])
        dispatcher.utter_message(json_message=end_call_payload(EndCall.GOODBYE))
        return [SlotSet(s, None) for s in ALL_SLOTS] + [SlotSet("survey_state", "greeted")]


def _record(attempt_id: int, outcome: str, answers: Dict[str, Any], channel: str) -> str:
    """Store the end of the survey; returns which goodbye to say."""
    engine, now = runtime.ticket_store_engine(), _now()
    goodbye = outcome
    if outcome == "completed":
        first = surveys.complete(engine, attempt_id, answers, now)
        reopen = answers.get("survey_resolved") is False or answers.get("survey_satisfaction") == "unsatisfied"
        if first and reopen:
            surveys.request_reopen(engine, attempt_id, answers.get("survey_reason") or survey.NO_REASON, now)
            goodbye = "reopen"
        outcome = "answered"
    elif outcome == "refused":
        surveys.opt_out_citizen(engine, attempt_id, now)
    end_try(engine, attempt_id, channel, current().callbacks.policy, now, heard=outcome)
    return goodbye
