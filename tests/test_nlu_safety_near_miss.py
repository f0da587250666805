"""The emergency guard on near misses (nlu/emergency_near_miss.yml): routine business that names a
hazard is never sent to 110/119/120, danger now is never missed, and a DIET `emergency` guess for routine
business is replaced by the next intent while real distress keeps it."""
from __future__ import annotations

import re

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from nlu.safety import EmergencyIntentGuard, detect_emergency
from ground.settings import REPO_ROOT

NEAR_MISS = yaml.safe_load((REPO_ROOT / "nlu" / "emergency_near_miss.yml").read_text(encoding="utf-8"))
DANGER = [(d["text"], d["number"]) for d in NEAR_MISS["danger"]]
ROUTINE = list(NEAR_MISS["routine"])


def test_the_set_is_broad():
    assert len(DANGER) + len(ROUTINE) >= 100 and len(DANGER) >= 40 and len(ROUTINE) >= 60
    assert {n for _, n in DANGER} == {"110", "119", "120"}


@pytest.mark.parametrize("text,number", DANGER)
def test_danger_now_is_never_missed(text, number):
    found = detect_emergency(text)
    assert found is not None, text
    assert found.number == number and number in found.advice()


@pytest.mark.parametrize("text", ROUTINE)
def test_routine_business_is_no_emergency(text):
    assert detect_emergency(text) is None, text


def _diet_said_emergency(text: str) -> Message:
    ranking = [{"name": "emergency", "confidence": 0.7}, {"name": "consult", "confidence": 0.2},
               {"name": "complain", "confidence": 0.1}]
    return Message(data={"text": text, "intent": dict(ranking[0]), "intent_ranking": ranking})


@pytest.mark.parametrize("text", ROUTINE)
def test_a_statistical_emergency_guess_on_routine_business_is_replaced(text):
    msg = _diet_said_emergency(text)
    EmergencyIntentGuard().process([msg])
    assert msg.get("intent")["name"] == "consult"
    assert all(r["name"] != "emergency" for r in msg.get("intent_ranking"))


def _training_examples(intent: str) -> list[str]:
    out = []
    for name in ("nlu.yml", "nlu_more.yml"):
        for block in yaml.safe_load((REPO_ROOT / "nlu" / "data" / name).read_text(encoding="utf-8"))["nlu"]:
            if block.get("intent") == intent:
                for line in block["examples"].splitlines():
                    line = re.sub(r"\[([^\]]*)\][{(][^})]*[})]", r"\1", line.strip()[2:].strip())
                    if line:
                        out.append(line)
    return out


def test_distress_without_a_danger_word_keeps_the_emergency_guess():
    examples = _training_examples("emergency")
    assert len(examples) > 60
    for text in examples:
        msg = _diet_said_emergency(text)
        EmergencyIntentGuard().process([msg])
        assert msg.get("intent")["name"] == "emergency", text
