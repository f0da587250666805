"""Ticket numbers, phone normalisation and masking helpers (no database access)."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from ground.masking import phone_digits
from ground.settings import DEFAULT_TIMEZONE

TICKET_NO_RE = re.compile(r"^\d{8}-\d{6,}$")
_NON_DIGITS = re.compile(r"\D+")


def ticket_day(now: datetime, tz: str = DEFAULT_TIMEZONE) -> date:
    """The calendar day of `now` in the hotline's time zone (naive `now` is UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(ZoneInfo(tz)).date()


def format_ticket_no(day: date, counter: int) -> str:
    """``YYYYMMDD-NNNNNN``, e.g. ``20261126-000123``."""
    if counter < 1:
        raise ValueError("ticket counter starts at 1")
    return f"{day:%Y%m%d}-{counter:06d}"


def normalize_ticket_no(text: Optional[str]) -> Optional[str]:
    """Canonical ticket number from user input (``20261126000123``, ``2026 1126-000123``...).

    Returns None when the text cannot be a ticket number.
    """
    if not text:
        return None
    digits = _NON_DIGITS.sub("", text)
    if len(digits) < 14:
        return None
    candidate = digits[:8] + "-" + digits[8:]
    return candidate if TICKET_NO_RE.match(candidate) else None


def normalize_phone(phone: Optional[str]) -> Optional[str]:
    """Digits only; a leading ``+86``/``0086`` before a mobile number is dropped.

    Returns None for empty input or input without digits.
    """
    return phone_digits(phone)
