"""One owner of a survey try: end_try ends it, whether the dialogue (chat) or the worker (voice call) calls it;
typed outcomes keep the database values; the end_call payload constants match what domain.yml sends."""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from ground.end_call import END_CALL, EndCall, end_call_payload
from ground.rasa_client import parse_reply
from ground.settings import REPO_ROOT
from ground.store.survey_tries import end_try, schedule_closed
from ground.store.surveys import complete, request_reopen
from ground.store import TicketStore
from ground.survey_policy import RETRY_OUTCOMES, SurveyPolicy
from ground.tables.callbacks import OUTCOMES, SurveyChannel, TryOutcome
from tests.callbacks_support import as_utc, attempts_of, closed_ticket, local

POLICY = SurveyPolicy()
NOW = as_utc(local(2026, 11, 26, 14, 0))


def _try(engine, channel: str = "rest"):
    no = closed_ticket(engine, local(2026, 11, 26, 10, 0), channel=channel)
    schedule_closed(engine, POLICY, as_utc(local(2026, 11, 26, 10, 1)))
    return no, attempts_of(engine, no)[0]


def test_outcomes_are_typed_and_keep_their_database_values() -> None:
    assert OUTCOMES == ("answered", "no_answer", "busy", "failed", "refused", "wrong_person", "skipped")
    assert TryOutcome("busy") is TryOutcome.BUSY and TryOutcome.BUSY == "busy" and f"{TryOutcome.BUSY}" == "busy"
    assert "busy" in RETRY_OUTCOMES and TryOutcome.BUSY in RETRY_OUTCOMES and "refused" not in RETRY_OUTCOMES
    with pytest.raises(ValueError):
        TryOutcome("completed")  # the dialogue's word; a try that completed the survey is 'answered'


def test_a_chat_try_ends_with_its_dialogue(clean_db) -> None:
    no, first = _try(clean_db, channel="web")
    assert first.channel == SurveyChannel.CHAT
    assert end_try(clean_db, first.id, "chat", POLICY, NOW, heard="busy") is TryOutcome.BUSY
    tries = attempts_of(clean_db, no)
    assert (tries[0].outcome, tries[0].note) == ("busy", "said in the chat survey")
    assert len(tries) == 2 and tries[1].scheduled_at == NOW + POLICY.busy_spacing


def test_a_voice_try_ends_with_its_call_and_what_the_dialogue_heard(clean_db) -> None:
    no, first = _try(clean_db)
    assert end_try(clean_db, first.id, SurveyChannel.VOICE, POLICY, NOW, heard=TryOutcome.WRONG_PERSON) is None
    assert attempts_of(clean_db, no)[0].outcome is None  # the call is still up
    later = NOW + timedelta(minutes=1)
    assert end_try(clean_db, first.id, "voice", POLICY, later, call_status="answered") is TryOutcome.WRONG_PERSON
    assert (attempts_of(clean_db, no)[0].outcome, attempts_of(clean_db, no)[0].note) == ("wrong_person",
                                                                                        "said in the survey")
    with pytest.raises(ValueError):
        end_try(clean_db, first.id, "voice", POLICY, later)  # neither heard nor call status


def test_a_call_hung_up_early_is_no_answer_and_a_completed_survey_answered(clean_db) -> None:
    no, first = _try(clean_db)
    assert end_try(clean_db, first.id, "voice", POLICY, NOW, call_status="answered") is TryOutcome.NO_ANSWER
    second = attempts_of(clean_db, no)[1]
    complete(clean_db, second.id, {"survey_contacted": True, "survey_resolved": False,
                                   "survey_satisfaction": "unsatisfied", "survey_reason": "没人来"}, NOW)
    request_reopen(clean_db, second.id, "没人来", NOW)
    assert end_try(clean_db, second.id, "voice", POLICY, NOW, call_status="no_answer") is TryOutcome.ANSWERED
    assert len(attempts_of(clean_db, no)) == 2  # done: no third try
    event = TicketStore(clean_db).events(no)[-1]
    assert (event.actor, event.from_status, event.to_status) == ("survey", "closed", "closed")
    assert event.note.endswith("没人来")


def test_end_call_payloads_are_the_ones_the_channel_parses() -> None:
    assert end_call_payload(EndCall.HANDOFF, "asked") == {"end_call": "handoff", "reason": "asked"}
    assert end_call_payload(EndCall.GOODBYE) == {"end_call": "goodbye"}
    reply = parse_reply([{"text": "再见"}, {"custom": end_call_payload(EndCall.HANDOFF, "asked")}])
    assert reply.end_call == EndCall.HANDOFF and reply.reason == "asked"
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    sent = [v["custom"][END_CALL] for variants in domain["responses"].values() for v in variants
            if isinstance(v.get("custom"), dict) and END_CALL in v["custom"]]
    assert sent and set(sent) <= {e.value for e in EndCall}
