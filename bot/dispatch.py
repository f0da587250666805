"""Suggest the responsible unit for a new ticket from configurable rules (ground/data/dispatch.yml)."""
from __future__ import annotations

import functools
from typing import Any

import yaml

from ground.settings import current
from nlu.categories import department_for, is_local



@functools.lru_cache(maxsize=4)
def _load_rules(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return list((yaml.safe_load(f) or {}).get("rules") or [])


def dispatch_rules() -> list[dict[str, Any]]:
    """The rules from SEAT_DISPATCH_FILE or the file in the repo."""
    return _load_rules(str(current().files.dispatch))


def _matches(rule: dict[str, Any], category: str | None, request_type: str | None) -> bool:
    cats = rule.get("categories")
    types = rule.get("request_types")
    if "local" in rule:
        if bool(category and is_local(category)) != bool(rule["local"]):
            return False
    return (not cats or category in cats) and (not types or request_type in types)


def _resolve(target: str, category: str | None, district: str | None, street: str | None) -> str | None:
    if target == "department":
        return department_for(category) if category else None
    if target == "street_office":
        if district and street:
            return f"street.{district}.{street}"
        return f"gov.{district}" if district else None
    if target == "district":
        return f"gov.{district}" if district else None
    return target


def suggest_unit(
    category: str | None, request_type: str | None, district: str | None, street: str | None,
    rules: list[dict[str, Any]] | None = None,
) -> str | None:
    """The unit code the first matching rule points at (None when nothing applies)."""
    for rule in dispatch_rules() if rules is None else rules:
        if _matches(rule, category, request_type):
            unit = _resolve(str(rule.get("to", "district")), category, district, street)
            if unit:
                return unit
    return f"gov.{district}" if district else None
