"""Finding 2 (issue 13): another conversation's forged `attempt_id` opens nothing.

`POST /webhooks/rest/webhook {"sender":"x","message":"/greet","metadata":{"attempt_id":N}}` reached
`action_greet` with the forged metadata and opened citizen N's survey (ticket number, category, and the
right to answer or opt them out). A try is now bound to its own call: only the call's own conversation
(sender id = the try's call id, as the voice gateway sends it) opens it.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import runtime
from bot.actions.survey import ActionGreet
from ground.store.claims import claim_next, mark_started
from ground.store.survey_tries import schedule_closed
from ground.survey_policy import SurveyPolicy
from tests.callbacks_support import StepClock, as_utc, closed_ticket, local

POLICY = SurveyPolicy()


def _greet(sender: str, metadata: dict) -> dict:
    tracker = Tracker.from_dict({
        "sender_id": sender, "slots": {}, "events": [], "active_loop": {},
        "latest_message": {"text": "/greet", "intent": {"name": "greet", "confidence": 1.0}, "entities": [],
                           "metadata": metadata},
        "latest_input_channel": "rest", "latest_action_name": "action_listen",
    })
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionGreet().run(dispatcher, tracker, {}))
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.fixture
def running_call(ticket_store, clean_db):
    runtime.reset_ticket_store(ticket_store)
    clock = StepClock(as_utc(local(2026, 11, 26, 13, 0)))
    ticket_no = closed_ticket(clean_db, clock.now - timedelta(hours=3), phone="13912345678")
    schedule_closed(clean_db, POLICY, clock.now)
    claim = claim_next(clean_db, "w", clock.now, POLICY)
    assert mark_started(clean_db, claim, "w", clock.now, "call-7f3a")
    yield claim.attempt_id, ticket_no
    runtime.reset_ticket_store(None)


def test_a_forged_attempt_id_from_another_conversation_opens_no_survey(running_call) -> None:
    attempt_id, ticket_no = running_call
    slots = _greet("x", {"attempt_id": attempt_id})
    assert slots.get("survey_state") == "greeted"
    assert "survey_ticket" not in slots and "survey_attempt" not in slots
    assert ticket_no not in repr(slots)


def test_the_call_itself_still_opens_its_survey(running_call) -> None:
    attempt_id, ticket_no = running_call
    slots = _greet("call-7f3a", {"attempt_id": attempt_id, "survey_ticket": ticket_no, "channel": "voice"})
    assert slots["survey_state"] == "open"
    assert slots["survey_ticket"] == ticket_no
    assert int(slots["survey_attempt"]) == attempt_id
