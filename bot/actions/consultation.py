"""Consultations answered from the knowledge base (一次性解决), with the citizen's word on the answer."""
from __future__ import annotations

import logging
from typing import Any, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import runtime
from bot.actions.common import KB_SLOTS, channel_of, latest_intent
from bot.intake import describe
from bot.followup import last_answered, looks_like_question, next_candidate, said_wrong_answer
from nlu.answers import parse_resolved, parse_yes_no
from nlu.kb_index import is_follow_up
from ground.store.knowledge import record_answer, revise_answer, set_outcome
from nlu.kb_speech import split_answer, with_source

logger = logging.getLogger(__name__)
LEAVE_TO_RULES = {"cancel", "human_handoff", "emergency", "ask_ticket_status"}


def _speak(dispatcher: CollectingDispatcher, answer: str, channel: str) -> list[str]:
    """Say the answer; over voice only its first part, returning the rest (asked "需要我继续说吗？")."""
    chunks = split_answer(answer)
    if channel != "voice":
        dispatcher.utter_message(text=answer)
        return []
    dispatcher.utter_message(text=chunks[0])
    return chunks[1:]


async def _answer(dispatcher: CollectingDispatcher, tracker: Tracker, entry: Any, query: str, score: float,
                  answer_id: Any = None, prefix: str = "") -> List[EventType]:
    """Say `entry`'s answer (naming its source) and remember it; `answer_id`: the consultation's record
    when it exists already (a clarification the citizen accepted), else a new one."""
    channel = channel_of(tracker)
    if answer_id is None:
        answer_id = await runtime.in_thread(
            record_answer, runtime.ticket_store_engine(), tracker.sender_id, entry.key, query, score, channel)
    else:
        await runtime.in_thread(revise_answer, runtime.ticket_store_engine(), int(answer_id), entry.key, "answer")
    rest = _speak(dispatcher, prefix + with_source(entry.answer, getattr(entry, "source", None)), channel)
    return [SlotSet("kb_state", "answered"), SlotSet("kb_entry", entry.key), SlotSet("kb_query", query),
            SlotSet("kb_answer_id", float(answer_id)), SlotSet("kb_more", rest or None)]


async def _record(tracker: Tracker, entry_key: str | None, query: str, score: float, kind: str) -> float:
    answer_id = await runtime.in_thread(record_answer, runtime.ticket_store_engine(), tracker.sender_id, entry_key,
                                        query, score, channel_of(tracker), kind)
    return float(answer_id)


async def _decide(tracker: Tracker, text: str, about: Any = None):
    """The knowledge base's decision; a follow-up ("那要带什么材料？") is looked up within the topic of the
    entry answered last (`about`, else the one found in the conversation)."""
    kb = runtime.knowledge_base()
    about = about or (_entry(last_answered(tracker.events)) if is_follow_up(text) else None)
    if about is not None and is_follow_up(text):
        return await runtime.in_thread(kb.index().decide_follow_up, text, about), True
    return await runtime.in_thread(kb.decide, text), False


def _about(entry: Any) -> str:
    return f"关于“{entry.question.rstrip('？?')}”：" if entry is not None else ""


class ActionAnswerConsultation(Action):
    """Looks the question up: answers, asks one clarifying question, or goes on to a consultation ticket."""

    def name(self) -> Text:
        return "action_answer_consultation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        query = tracker.latest_message.get("text") or ""
        decision, follow_up = await _decide(tracker, query)
        logger.info("consultation in %s: %s%s (%s)", tracker.sender_id, decision.action, " (follow-up)" * follow_up,
                    decision.hit and f"{decision.hit.entry.key} {decision.hit.score:.2f}")
        if decision.action == "answer":
            return await _answer(dispatcher, tracker, decision.hit.entry, query, decision.hit.score,
                                 prefix=_about(decision.hit.entry) if follow_up else "")
        if decision.action == "clarify":
            answer_id = await _record(tracker, decision.hit.entry.key, query, decision.hit.score, "clarify")
            return [SlotSet("kb_state", "clarify"), SlotSet("kb_entry", decision.hit.entry.key),
                    SlotSet("kb_query", query), SlotSet("kb_resolved", None), SlotSet("kb_answer_id", answer_id)]
        await _record(tracker, None, query, 0.0, "none")  # every consultation counts in the resolution rate
        dispatcher.utter_message(response="utter_consultation_ticket")
        return [SlotSet("kb_state", "register"), SlotSet("kb_query", query)]


class ActionAskKbResolved(Action):
    """The feedback form's question: continue a long answer, confirm the guessed question, or 'solved?'."""

    def name(self) -> Text:
        return "action_ask_kb_resolved"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.get_slot("kb_more"):
            dispatcher.utter_message(text="需要我继续说吗？")
        elif tracker.get_slot("kb_state") == "clarify":
            entry = _entry(tracker.get_slot("kb_entry"))
            dispatcher.utter_message(text=f"您是想问：{entry.question.rstrip('？?')}，对吗？" if entry else "请您换个说法再问一遍好吗？")
        else:
            dispatcher.utter_message(response="utter_ask_kb_resolved")
        return []


def _entry(key: str | None):
    if not key:
        return None
    return next((e for e in runtime.knowledge_base().index().entries if e.key == key), None)


class ValidateKbFeedbackForm(FormValidationAction):
    """Yes/no to the answer (or to the guessed question); a new question is answered in turn."""

    def name(self) -> Text:
        return "validate_kb_feedback_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent, _ = latest_intent(tracker)
        text = tracker.latest_message.get("text") or ""
        verdict = parse_resolved(text) if not tracker.get_slot("kb_more") else parse_yes_no(text)
        if intent in LEAVE_TO_RULES and verdict is None:
            return []
        if tracker.get_slot("requested_slot") is None:  # activation: ask the first question
            return [SlotSet("requested_slot", "kb_resolved")]
        more = list(tracker.get_slot("kb_more") or [])
        if more:  # "需要我继续说吗？": yes (or anything but no) says the next part
            if verdict is False:
                more = []
            else:
                dispatcher.utter_message(text=more.pop(0))
            return [SlotSet("kb_more", more or None), SlotSet("requested_slot", "kb_resolved")]
        state = tracker.get_slot("kb_state")
        answer_id = tracker.get_slot("kb_answer_id")
        if state == "clarify":
            entry = _entry(tracker.get_slot("kb_entry"))
            if verdict is True and entry:
                return await _answer(dispatcher, tracker, entry, tracker.get_slot("kb_query") or "", 0.0, answer_id) + [
                    SlotSet("requested_slot", "kb_resolved")]
            if verdict is False:  # the guessed question (or the next candidate after "不对") was not it
                return [SlotSet("kb_state", "register"), SlotSet("kb_resolved", False), SlotSet("requested_slot", None)]
        elif verdict is False and said_wrong_answer(text) and answer_id is not None:
            # "不对" after an answer: the next candidate once ("您是想问……，对吗？"), then a ticket
            query = tracker.get_slot("kb_query") or ""
            found = await runtime.in_thread(next_candidate, runtime.knowledge_base().index(), query,
                                            tracker.get_slot("kb_entry"))
            if found is None:
                return [SlotSet("kb_state", "register"), SlotSet("kb_resolved", False), SlotSet("requested_slot", None)]
            await runtime.in_thread(revise_answer, runtime.ticket_store_engine(), int(answer_id), found.entry.key, "clarify")
            return [SlotSet("kb_state", "clarify"), SlotSet("kb_entry", found.entry.key), SlotSet("kb_resolved", None),
                    SlotSet("requested_slot", "kb_resolved")]
        elif verdict is not None:
            return [SlotSet("kb_resolved", verdict), SlotSet("requested_slot", None)]
        if intent == "consult" or (verdict is None and looks_like_question(text)):  # a new or follow-up question
            current = _entry(tracker.get_slot("kb_entry")) if state == "answered" else None
            decision, follow_up = await _decide(tracker, text, current)
            if decision.action == "answer" and (follow_up or decision.hit.entry.key != tracker.get_slot("kb_entry")):
                return await _answer(dispatcher, tracker, decision.hit.entry, text, decision.hit.score,
                                     prefix=_about(decision.hit.entry) if follow_up else "") + [
                    SlotSet("requested_slot", "kb_resolved")]
        if tracker.get_slot("reprompts"):  # unclear twice: the safe way on is a consultation ticket
            return [SlotSet("kb_state", "register"), SlotSet("kb_resolved", False), SlotSet("reprompts", None),
                    SlotSet("requested_slot", None)]
        dispatcher.utter_message(text="不好意思，您是说解决了，还是没有解决？")
        return [SlotSet("kb_resolved", None), SlotSet("reprompts", 1.0), SlotSet("requested_slot", "kb_resolved")]


class ActionKbFeedbackDone(Action):
    """Records the citizen's word; not solved → a consultation ticket with the question and the answer given."""

    def name(self) -> Text:
        return "action_kb_feedback_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        resolved = tracker.get_slot("kb_resolved")
        answer_id = tracker.get_slot("kb_answer_id")
        if answer_id is not None and resolved is not None:
            await runtime.in_thread(set_outcome, runtime.ticket_store_engine(), int(answer_id), bool(resolved))
        reset = [SlotSet(s, None) for s in KB_SLOTS if s != "kb_state"] + [SlotSet("reprompts", None)]
        if resolved:
            dispatcher.utter_message(response="utter_kb_solved")
            return reset + [SlotSet("kb_state", "done")]
        query = describe(tracker.get_slot("kb_query") or "")
        answered = answer_id is not None and tracker.get_slot("kb_state") == "answered"
        entry = _entry(tracker.get_slot("kb_entry")) if answered else None
        description = f"{query}（已答复：{entry.answer[:60]}）" if entry else query
        dispatcher.utter_message(response="utter_consultation_ticket")
        return reset + [SlotSet("kb_state", "register"), SlotSet("request_type", "consultation"),
                        SlotSet("description", description)]


class ActionAnswerDigression(Action):
    """A question in the middle of filing: answered from the knowledge base, or noted in the ticket."""

    def name(self) -> Text:
        return "action_answer_digression"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        text = tracker.latest_message.get("text") or ""
        decision = await runtime.in_thread(runtime.knowledge_base().decide, text)
        if decision.action == "answer":
            entry = decision.hit.entry
            dispatcher.utter_message(text=split_answer(with_source(entry.answer, entry.source))[0])
            dispatcher.utter_message(text="我们接着登记您的问题。")
            return []
        dispatcher.utter_message(text="这个问题我记下了，会一并写进工单，请相关部门答复您。我们接着登记。")
        description = tracker.get_slot("description")
        return [SlotSet("description", f"{description}（另问：{text}）")] if description else []
