"""Roles, what each may do, and masking of personal data for roles that may not see it."""
from __future__ import annotations

import re

from seat.store.numbering import mask_name, mask_phone

ROLE_LABELS = {"admin": "管理员", "editor": "编辑", "operator": "工单员", "viewer": "查看者"}

PERMISSIONS: dict[str, frozenset[str]] = {
    # flows: edit dialogue, train, publish, roll back; kb: knowledge base; pii: see phone and name
    "admin": frozenset({"flows", "kb", "tickets.read", "tickets.write", "pii", "dashboards", "users", "audit"}),
    "editor": frozenset({"flows", "kb", "dashboards"}),
    "operator": frozenset({"tickets.read", "tickets.write", "pii", "dashboards"}),
    "viewer": frozenset({"tickets.read", "dashboards"}),
}
ROLES = tuple(PERMISSIONS)

# Mainland mobile numbers and landlines with an area code, as they appear in free text.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|0\d{2,3}[\s-]?\d{7,8})(?!\d)")


def can(role: str | None, permission: str) -> bool:
    """Whether `role` has `permission` (unknown roles have none)."""
    return permission in PERMISSIONS.get(role or "", frozenset())


def sees_pii(role: str | None) -> bool:
    """Admins and operators see phone numbers and names; everyone else sees them masked."""
    return can(role, "pii")


def phone_for(role: str | None, phone: str | None) -> str | None:
    return phone if sees_pii(role) else mask_phone(phone)


def name_for(role: str | None, name: str | None) -> str | None:
    return name if sees_pii(role) else mask_name(name)


def mask_text(text: str, names: tuple[str, ...] = ()) -> str:
    """Free text with phone numbers masked (138****5678) and the given names masked (张*)."""
    masked = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "", text or "")
    for name in names:
        if name and len(name.strip()) > 1:
            masked = masked.replace(name.strip(), mask_name(name) or "")
    return masked


def text_for(role: str | None, text: str | None, names: tuple[str, ...] = ()) -> str:
    return (text or "") if sees_pii(role) else mask_text(text or "", names)
