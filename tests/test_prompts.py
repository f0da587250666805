"""Everything the bot says is short, speakable Mandarin: no emoji, no markdown, no English."""
from __future__ import annotations

import re

import yaml

from bot.readback import category_question, readback, ticket_filed
from nlu.safety import EMERGENCY_KINDS, Emergency
from ground.settings import REPO_ROOT

FORBIDDEN = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF*_#`>\[\]]|[A-Za-z]{2,}")
MAX_CHARS = 120


def domain_texts() -> list[str]:
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return [v["text"] for variants in domain["responses"].values() for v in variants]


def generated_texts() -> list[str]:
    slots = {"request_type": "complaint", "category": "噪音扰民", "district": "朝阳区", "street": "望京街道",
             "address": "望京西园三区", "description": "工地每天晚上十一点以后还在施工，吵得根本睡不着，已经持续一个多月了，找过物业也没有用",
             "phone": "13911112222", "contact_name": "王先生", "confidential": True}
    return [readback(slots), ticket_filed("20261126-000123", "complaint", True),
            category_question(["噪音扰民", "环境卫生", "市政设施"])] + [
        Emergency(kind, number, service).advice() for kind, (number, service, _) in EMERGENCY_KINDS.items()]


def test_every_response_is_speakable():
    for text in domain_texts() + generated_texts():
        assert not FORBIDDEN.search(text), text
        assert len(text) <= MAX_CHARS, (len(text), text)


def test_readback_groups_numbers_for_speech_and_cuts_long_descriptions():
    text = generated_texts()[0]
    assert "139 1111 2222" in text
    assert "已经持续一个多月了，找过物业也没有用" not in text  # long descriptions are shortened
    assert text.endswith("以上信息是否正确？")
