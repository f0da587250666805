"""The emergency guard's near-miss set (nlu/emergency_near_miss.yml) through the REAL trained model.

tests/test_nlu_safety_near_miss.py checks the guard's word functions and the guard on a made-up DIET
ranking; here every sentence goes through the seat's Rasa app as `seat.rasa_run` starts it (REST channel,
the trained pipeline: tokenizer, featurizers, DIET, the entity extractor, EmergencyIntentGuard,
HandoffIntentGuard, ResponseSelector, FallbackClassifier), and the intent the dialogue acted on is read
back from the tracker: no routine sentence is taken as an emergency (a false alarm sends a citizen who
asks about 燃气开通 to 119), no danger sentence is missed.
"""
from __future__ import annotations

import asyncio

import aiohttp
import yaml
from rasa.shared.core.events import ActionExecuted

from ground.settings import REPO_ROOT
from tests.rasa_support import fresh_sanic_registry, needs_model, served_rasa  # noqa: F401 (fixture)

pytestmark = needs_model

NEAR_MISS = yaml.safe_load((REPO_ROOT / "nlu" / "emergency_near_miss.yml").read_text(encoding="utf-8"))
DANGER = [d["text"] for d in NEAR_MISS["danger"]]
ROUTINE = list(NEAR_MISS["routine"])
# the issue's own routine examples, whatever the near-miss file holds
ISSUE_ROUTINE = ["家里燃气要开通找谁", "燃气费怎么交", "燃气灶坏了找谁维修", "火车票怎么退"]


async def _intents(texts: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The intent the served seat recorded for each text, each sent in its own conversation, and the
    actions its dialogue chose after it (custom actions fail without an action server, but are chosen)."""
    seen = {}
    async with served_rasa() as rasa:
        async with aiohttp.ClientSession() as http:
            for i, text in enumerate(texts):
                async with http.post(rasa.webhook, json={"sender": f"near-miss-{i}", "message": text}) as resp:
                    assert resp.status == 200, (text, resp.status)
                tracker = await rasa.agent.tracker_store.retrieve(f"near-miss-{i}")
                assert tracker.latest_message.text == text
                after = [e.action_name for e in tracker.events_after_latest_restart()
                         if isinstance(e, ActionExecuted) and e.action_name]
                seen[text] = (tracker.latest_message.intent.get("name"), after)
    return seen


def test_near_misses_through_the_trained_model_no_false_alarm_and_no_miss() -> None:
    assert len(DANGER) + len(ROUTINE) >= 100
    texts = list(dict.fromkeys(DANGER + ROUTINE + ISSUE_ROUTINE))
    intents = asyncio.run(_intents(texts))
    false_alarms = [(t, intents[t]) for t in ROUTINE + ISSUE_ROUTINE
                    if intents[t][0] == "emergency" or "action_emergency" in intents[t][1]]
    missed = [(t, intents[t]) for t in DANGER if intents[t][0] != "emergency" or "action_emergency" not in intents[t][1]]
    assert not false_alarms, false_alarms
    assert not missed, missed


def test_an_override_is_not_undone_by_rasas_fallback_classifier() -> None:
    """Without the trained model: the guard, then Rasa's own FallbackClassifier as config.yml sets it. DIET
    ranked "有人在我家门口撬锁" complain 0.94; forced to emergency 1.0, the two were within the classifier's
    ambiguity threshold (0.1) and the citizen in danger heard "请再说一遍"."""
    from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
    from rasa.shared.nlu.training_data.message import Message

    from nlu.safety import EmergencyIntentGuard

    fallback = next(c for c in yaml.safe_load((REPO_ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
                    if c["name"] == "FallbackClassifier")
    classifier = FallbackClassifier({**FallbackClassifier.get_default_config(),
                                     **{k: v for k, v in fallback.items() if k != "name"}})
    ranking = [{"name": "complain", "confidence": 0.936}, {"name": "emergency", "confidence": 0.05},
               {"name": "consult", "confidence": 0.014}]
    msg = Message(data={"text": "有人在我家门口撬锁", "intent": dict(ranking[0]), "intent_ranking": ranking})
    classifier.process(EmergencyIntentGuard().process([msg]))
    assert msg.get("intent")["name"] == "emergency"
    assert [r["name"] for r in msg.get("intent_ranking")][:2] == ["emergency", "complain"]
