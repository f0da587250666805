"""Everything the intake form can take from one citizen message, in one call.

"我是西城区什刹海街道的，电话13612345678，胡同里的垃圾三天没人清运了" gives district 西城区,
street 什刹海街道, phone 13612345678, occurred_at three days ago, category 环境卫生 and the
description "胡同里的垃圾三天没人清运了". Only what is present is set.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from nlu import answers, categories, places
from nlu.phone import extract_phone
from nlu.ticketno import find_ticket_no
from nlu.when import parse_occurrence

CATEGORY_MIN_CONFIDENCE = 0.3
_CLAUSE = re.compile(r"[^，,。；;！!？?\n]+")
_ADDRESS_CUE = re.compile(r"^(?:我家|我们家|我们|我|家)?(?:的)?(地址|位置|地点|具体位置|详细地址|住在|住|家在|位于|就在|在)")
_FILLER = re.compile(
    r"(你好|您好|喂|麻烦|请问|那个|就是|我想|我要|我来|想要|要|一下|一个|个事|件事|问题|情况|事情|投诉|举报|反映|求助|"
    r"咨询|建议|表扬|我是|我叫|叫我|我姓|免贵姓|姓名|名字|称呼|姓|电话|手机|号码|联系方式|联系|座机|号|地址|位置|地点|"
    r"我们|我家|家住|住在|住|在|是|的|了|呢|啊|吧|嗯|哦|呃|这边|那边|这里|那里|先生|女士|工单|单号|编号|查询|进度|"
    r"不需要|需要|不用|保密|匿名|公开|谢谢|好的|可以|没问题|对|\s|[A-Za-z0-9:：\-+])"
)


@dataclass
class Facts:
    """Facts found in one message (None / False when not said)."""

    district: str | None = None
    district_inferred: bool = False  # from the street, not said
    street: str | None = None
    address: str | None = None
    phone: str | None = None
    phone_kind: str | None = None
    phone_error: str | None = None  # Mandarin sentence for the citizen
    phone_error_code: str | None = None
    outside_beijing: str | None = None
    contact_name: str | None = None
    request_type: str | None = None
    occurred_at: datetime | None = None
    occurred_precision: str | None = None
    recurring: bool = False
    ticket_no: str | None = None
    confidential: bool | None = None
    category: str | None = None
    category_confidence: float | None = None
    description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Only the facts present, JSON-friendly (datetimes as ISO strings)."""
        out = {}
        for key, value in asdict(self).items():
            if value is None or (value is False and key in ("district_inferred", "recurring")):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans replaced by commas (keeps offsets)."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            chars[i] = "，"
    return "".join(chars)


def _address(text: str) -> str | None:
    for m in _CLAUSE.finditer(text):
        clause = m.group().strip()
        hits = [h for h in places.scan_places(clause) if h.kind in ("district", "street")]
        if not hits and not _ADDRESS_CUE.match(clause):
            continue
        found = places.split_address(clause, strict=True)
        if found:
            return found
    return None


def _description(text: str, address: str | None, name: str | None) -> str | None:
    kept = []
    for m in _CLAUSE.finditer(text):
        clause = m.group().strip()
        rest = clause
        for known in (address, name):
            if known and known != answers.DECLINED:
                rest = rest.replace(known, "")
        for hit in sorted(places.scan_places(clause), key=lambda h: -h.start):
            if hit.kind in ("district", "street"):
                rest = rest[:hit.start] + rest[hit.end:]
        if len(_FILLER.sub("", rest)) >= 2:
            kept.append(clause)
    return "，".join(kept) or None


def extract_facts(text: str, now: datetime | None = None) -> Facts:
    """District, street, address, phone, name, time, ticket number, ... from one message."""
    facts = Facts()
    if not text or not text.strip():
        return facts
    now = now or datetime.now()
    spans: list[tuple[int, int]] = []

    phone = extract_phone(text)
    if phone.ok:
        facts.phone, facts.phone_kind = phone.phone, phone.kind
    elif phone.error:
        facts.phone_error, facts.phone_error_code = phone.error, phone.error_code
    if phone.start is not None and phone.end is not None:
        spans.append((phone.start, phone.end))
    ticket = find_ticket_no(text)
    if ticket:
        facts.ticket_no = ticket.value
        spans.append((ticket.start, ticket.end))
    rest = _blank(text, spans)

    street = places.find_street(rest)
    district = places.find_district(rest, infer=False)
    if district:
        facts.district = district.name
    elif street:
        facts.district, facts.district_inferred = street.district, True
    else:
        inferred = places.find_district(rest, infer=True)
        if inferred:
            facts.district, facts.district_inferred = inferred.name, True
    if street:
        facts.street = street.street
    if not facts.district and not street:
        facts.outside_beijing = places.find_outside_beijing(rest)
    facts.address = _address(rest)

    facts.contact_name = answers.parse_name(rest, explicit_only=True)
    facts.request_type = answers.parse_request_type(rest)
    if re.search(r"保密|匿名|公开|透露|让.{0,8}(知道|发现)", rest):
        facts.confidential = answers.parse_confidential(rest)
    occurrence = parse_occurrence(rest, now)
    if occurrence:
        facts.occurred_at, facts.occurred_precision = occurrence.at, occurrence.precision
        facts.recurring = occurrence.recurring

    facts.description = _description(rest, facts.address, facts.contact_name)
    ranked = categories.classify(facts.description or "")
    if ranked and ranked[0][1] >= CATEGORY_MIN_CONFIDENCE:
        facts.category, facts.category_confidence = ranked[0]
    return facts
