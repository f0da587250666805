"""The knowledge base's data as citizens get it (issue #18): 600+ entries over the topics citizens ask, each
naming its source, its owner unit and its review date, and answers free of invented phone numbers and fees.

Numbers in answers are checked against two lists kept here by hand: the public service numbers an
answer may give (12345, 110, …), and, per entry, the amounts a published rule states (with that rule
as the entry's source). Any other phone-like number or sum of money in an answer fails the test.
"""
from __future__ import annotations

import re
from datetime import date

import pytest

from ground.store import knowledge as repository
from ground.store.units import read_units

ENTRIES = repository.read_kb_files()
ACTIVE = [e for e in ENTRIES if e.status == "active"]

# Public service numbers: emergency (110 police, 119 fire, 120/999 ambulance, 122 traffic accidents),
# 12345 citizen hotline, 12315 market regulation / consumers, 12366 tax, 12369 environment,
# 12321 spam and bad-content reports, 12333 human resources and social security, and 交管12123 (the
# traffic police's app, named by its number).
HOTLINES = {"110", "119", "120", "122", "999", "12345", "12315", "12366", "12369", "12321", "12333", "12123"}

# Sums of money an answer may state: entry id -> (amounts as written, the source the entry must name).
PUBLISHED_AMOUNTS = {
    # 重点管理区 first registration 1000 yuan, yearly 500 yuan (《北京市养犬管理规定》 art. 10)
    "yangquan-002": ({"1000元", "500元"}, "北京市养犬管理规定"),
    # 高龄津贴 80-89: 100, 90-99: 500, 100+: 800 yuan a month
    "laonian-001": ({"100元", "500元", "800元"}, "北京市老年人养老服务补贴津贴管理实施办法"),
    # national childcare subsidy, 3600 yuan a child a year under 3
    "shengyu-009": ({"3600元"}, "育儿补贴制度实施方案"),
    # VAT exemption threshold of small-scale taxpayers: 100,000 a month / 300,000 a quarter
    "shuiwu-005": ({"10万元", "30万元"}, "财政部 税务总局公告2023年第19号"),
}

DIGITS = r"[0-9０-９]"
CN_NUM = "零〇一二两三四五六七八九十百千万亿"
MONEY = re.compile(rf"(?:{DIGITS}[{DIGITS[1:-1]}.,，]*|[{CN_NUM}]+)\s*(?:万|千|百)?\s*(?:元|块钱|块|角|毛钱)")
# a run of 3+ digits (dashes and spaces inside, as phone numbers are written), not a year, a share or a sum
NUMBER = re.compile(rf"(?<!{DIGITS}){DIGITS}(?:[\s\-－]?{DIGITS}){{2,}}(?!{DIGITS})")
NOT_A_PHONE_AFTER = re.compile(r"\s*(?:年|%|％|天|个|周岁|岁|元|万|号文|号令|次|分|条|项|小时|日|月)")
ISSUE_TOPICS = ("养犬", "老年优待", "高龄津贴", "殡葬", "生育", "育儿", "异地就医", "驾驶证", "机动车", "进京证",
                "共有产权", "劳动权益", "物业", "身份证", "户口", "社保", "公积金")


def test_breadth_600_entries_over_the_topics_citizens_ask():
    assert len(ACTIVE) >= 600
    topics = {e.topic for e in ACTIVE}
    assert len(topics) >= 30
    missing = [t for t in ISSUE_TOPICS if not any(t in topic for topic in topics)]
    assert not missing, missing


def test_every_entry_names_its_source_owner_unit_and_review_date():
    units = {u.code for u in read_units()}
    lacking = [(e.key, f) for e in ENTRIES for f in ("source", "department", "review_by") if not getattr(e, f)]
    assert not lacking, lacking
    assert not [(e.key, e.department) for e in ENTRIES if e.department not in units]
    # a source is a law, a regulation, a notice or a unit's published rules, not a placeholder
    assert not [(e.key, e.source) for e in ENTRIES if len(e.source) < 6 or re.search(r"待补|TODO|xxx|未知", e.source, re.I)]
    assert not [(e.key, e.review_by) for e in ACTIVE if e.review_by < date(2026, 1, 1)]


def phone_like_numbers(answer: str) -> list[str]:
    """Digit runs that could be read out as a number to call: not years, shares, counts or sums."""
    found = []
    for m in NUMBER.finditer(answer):
        if NOT_A_PHONE_AFTER.match(answer, m.end()):
            continue
        found.append(re.sub(r"[\s\-－]", "", m.group()))
    return found


def test_the_number_checks_catch_invented_phones_and_fees():
    assert phone_like_numbers("请拨打010-6512 3456咨询，或12345。") == ["01065123456", "12345"]
    assert phone_like_numbers("从2025年起，按日工资的300%，合计158天，满80周岁") == []
    assert [m.group() for m in MONEY.finditer("每年注册费500元，工本费二十元，押金三百块")] == ["500元", "二十元", "三百块"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_answers_give_only_public_service_numbers(entry):
    assert set(phone_like_numbers(entry.answer)) <= HOTLINES, entry.answer


def test_answers_state_only_published_amounts():
    stray = []
    for e in ENTRIES:
        amounts = {re.sub(r"\s", "", m.group()) for m in MONEY.finditer(e.answer)}
        allowed, source = PUBLISHED_AMOUNTS.get(e.key, (set(), None))
        if amounts - allowed:
            stray.append((e.key, sorted(amounts - allowed), e.answer))
        elif amounts and source not in (e.source or ""):
            stray.append((e.key, "amounts need their rule as the source", e.source))
    assert not stray, stray
    # the list stays honest too: every entry it names still states its amounts
    entries = {e.key: e for e in ENTRIES}
    for key, (allowed, _) in PUBLISHED_AMOUNTS.items():
        assert all(a in entries[key].answer for a in allowed), key
