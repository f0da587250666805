"""Ticket request rules: one submitted request → clean ticket fields, or errors in Mandarin by field.

Shared by the citizen page's self-service form (web/form.py) and the operator console's ticket form (admin/), so
an operator's ticket passes exactly the checks a citizen's does.
The same parsers as the dialogue (``nlu/``): phone numbers (spoken digits, spaces, dashes, landlines),
district names and aliases, streets of the district, categories and their recorded labels, times of
occurrence ("昨天晚上十点" or the browser's ``2026-12-01T22:00``). Pure: no I/O, the clock is passed in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from ground.settings import HOTLINE_TZ
from nlu.categories import best_category, category_config, label_of
from nlu.phone import extract_phone
from nlu.places import canonical_district, district_names, streets_of
from nlu.when import parse_occurred_at

REQUEST_TYPES = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "suggestion": "建议", "praise": "表扬"}
FIELDS = ("request_type", "category", "description", "district", "street", "address", "occurred_at",
          "contact_name", "phone", "confidential")
MIN_DESCRIPTION, MAX_DESCRIPTION = 5, 2000
MAX_ADDRESS, MAX_NAME = 200, 20
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CleanRequest:
    request_type: str
    category: str
    description: str
    district: str
    street: str
    address: Optional[str]
    occurred_at: Optional[datetime]
    contact_name: Optional[str]
    phone: str
    confidential: bool


def options() -> dict[str, Any]:
    """What the form offers: request types, categories (labels as tickets record them), districts → streets."""
    return {
        "request_types": [{"value": k, "label": v} for k, v in REQUEST_TYPES.items()],
        "categories": [c.label for c in category_config()],
        "districts": [{"name": d, "streets": streets_of(d)} for d in district_names()],
    }


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        return "\0invalid"
    return _CONTROL.sub("", str(value)).strip()


EARLIEST_YEAR = 1900  # an occurrence before this is a typo ("0001-01-01"), not a date to store


def _occurred_at(raw: str, now: datetime) -> tuple[Optional[datetime], Optional[str]]:
    if not raw:
        return None, None
    try:
        when = datetime.fromisoformat(raw)
        when = when if when.tzinfo else when.replace(tzinfo=HOTLINE_TZ)
    except ValueError:
        when = parse_occurred_at(raw, now.astimezone(HOTLINE_TZ).replace(tzinfo=None))
        if when is None:
            return None, "没能看懂发生时间，请用“2026-12-01 20:30”或“昨天晚上十点”这样的写法，或者留空。"
        when = when if when.tzinfo else when.replace(tzinfo=HOTLINE_TZ)
    if when.year < EARLIEST_YEAR:  # before any comparison: year 1 cannot even be converted to UTC
        return None, "发生时间的年份不对，请核对后再填，或者留空。"
    if when > now:
        return None, "发生时间不能晚于现在。"
    return when, None


def validate(body: Any, now: datetime) -> tuple[Optional[CleanRequest], dict[str, str]]:
    """(the clean request, {}) or (None, {field: Mandarin error})."""
    if not isinstance(body, dict):
        return None, {"_": "请求格式不正确。"}
    errors: dict[str, str] = {}
    t = {name: _text(body, name) for name in FIELDS if name != "confidential"}
    for name, value in t.items():
        if value == "\0invalid":
            errors[name] = "格式不正确。"
            t[name] = ""

    request_type = t["request_type"]
    by_word = {v: k for k, v in REQUEST_TYPES.items()}
    request_type = by_word.get(request_type, request_type)
    if request_type not in REQUEST_TYPES:
        errors.setdefault("request_type", "请选择诉求类型（咨询、求助、投诉、建议或表扬）。")

    description = t["description"]
    if len(description) < MIN_DESCRIPTION:
        errors.setdefault("description", f"请描述具体问题，至少{MIN_DESCRIPTION}个字。")
    elif len(description) > MAX_DESCRIPTION:
        errors.setdefault("description", f"问题描述请控制在{MAX_DESCRIPTION}字以内。")

    labels = {c.label for c in category_config()} | {c.name for c in category_config()}
    category = t["category"]
    if not category:
        category = best_category(description) if description else ""
    if category and category not in labels:
        errors.setdefault("category", "请从列表中选择问题类别。")
    category = label_of(category) if category else ""

    district = canonical_district(t["district"]) if t["district"] else None
    if not t["district"]:
        errors.setdefault("district", "请选择问题发生的区。")
    elif district is None:
        errors.setdefault("district", "没有这个区，本热线受理北京市16个区的诉求，请从列表中选择。")
    street = t["street"]
    if not street:
        errors.setdefault("street", "请选择街道（乡镇）。")
    elif district and street not in streets_of(district):
        errors.setdefault("street", f"{district}没有“{street}”，请从列表中选择街道（乡镇）。")

    if len(t["address"]) > MAX_ADDRESS:
        errors.setdefault("address", f"详细地址请控制在{MAX_ADDRESS}字以内。")
    occurred_at, when_error = _occurred_at(t["occurred_at"], now)
    if when_error:
        errors.setdefault("occurred_at", when_error)
    if len(t["contact_name"]) > MAX_NAME:
        errors.setdefault("contact_name", f"称呼请控制在{MAX_NAME}字以内。")

    phone = None
    if not t["phone"]:
        errors.setdefault("phone", "请填写联系电话，方便承办单位与您联系。")
    else:
        found = extract_phone(t["phone"], expected=True)
        if found.ok:
            phone = found.phone
        else:
            errors.setdefault("phone", found.error or "请填写有效的手机号码（11位）或座机号码。")

    confidential = body.get("confidential", False)
    if not isinstance(confidential, bool):
        if confidential in ("true", "1", 1, "on", "是"):
            confidential = True
        elif confidential in ("false", "0", 0, "", None, "否"):
            confidential = False
        else:
            errors.setdefault("confidential", "请选择是否需要保密。")

    if errors:
        return None, errors
    return CleanRequest(
        request_type=request_type, category=category, description=description, district=district or "",
        street=street, address=t["address"] or None, occurred_at=occurred_at,
        contact_name=t["contact_name"] or None, phone=phone or "", confidential=bool(confidential),
    ), {}
