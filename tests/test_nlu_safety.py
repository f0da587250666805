"""Emergencies are recognised by their words (danger now), not by past or negated mentions."""
from __future__ import annotations

import pytest

from nlu.safety import advice_for, detect_emergency


@pytest.mark.parametrize("text,number", [
    ("我家楼道着火了，好多烟", "119"),
    ("厨房煤气泄漏了，味道很大", "119"),
    ("楼下有个老人晕倒了", "120"),
    ("河边有个小孩掉进冰窟窿里了", "120"),
    ("有人拿着刀在小区里追人", "110"),
    ("有人正在撬我家的门", "110"),
])
def test_danger_now_names_the_right_number(text, number):
    found = detect_emergency(text)
    assert found is not None and found.number == number
    assert number in found.advice() and "12345不能处理" in found.advice()


@pytest.mark.parametrize("text", [
    "我想咨询一下怎么预防燃气泄漏",
    "我们小区没有着火，就是垃圾太多了",
    "我在工地上摔伤了，包工头不给医药费",
    "楼上装修太吵了",
    "",
])
def test_no_emergency_in_ordinary_requests(text):
    assert detect_emergency(text) is None


def test_unclear_kind_names_all_three_numbers():
    advice = advice_for("快来人啊")
    assert all(n in advice for n in ("110", "119", "120"))


def test_guard_component_overrides_the_intent():
    from rasa.shared.nlu.training_data.message import Message

    from nlu.safety import EmergencyIntentGuard

    msg = Message(data={"text": "厨房着火了", "intent": {"name": "complain", "confidence": 0.8},
                        "intent_ranking": [{"name": "complain", "confidence": 0.8}]})
    EmergencyIntentGuard().process([msg])
    assert msg.get("intent")["name"] == "emergency"
    assert msg.get("intent_ranking")[0]["name"] == "emergency"
