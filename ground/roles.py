"""Roles, what each may do, and masking of personal data for roles that may not see it."""
from __future__ import annotations

from ground.masking import mask_name, mask_phone, mask_text

ROLE_LABELS = {"admin": "管理员", "editor": "编辑", "operator": "工单员", "viewer": "查看者"}

PERMISSIONS: dict[str, frozenset[str]] = {
    # flows: edit dialogue, train, publish, roll back; kb: knowledge base; pii: see phone and name;
    # handoffs: the operator workspace (take over chats and calls the bot handed to a person)
    "admin": frozenset({"flows", "kb", "tickets.read", "tickets.write", "pii", "dashboards", "users", "audit",
                        "handoffs"}),
    "editor": frozenset({"flows", "kb", "dashboards"}),
    "operator": frozenset({"tickets.read", "tickets.write", "pii", "dashboards", "handoffs"}),
    "viewer": frozenset({"tickets.read", "dashboards"}),
}
ROLES = tuple(PERMISSIONS)

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


def text_for(role: str | None, text: str | None, names: tuple[str, ...] = ()) -> str:
    return (text or "") if sees_pii(role) else mask_text(text or "", names)
