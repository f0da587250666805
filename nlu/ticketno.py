"""Ticket numbers: YYYYMMDD-NNNNNN (14 digits), written or spoken with or without dash or spaces."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from nlu.digits import find_digit_runs, to_halfwidth

TICKET_RE = re.compile(r"^(\d{8})-(\d{6})$")


@dataclass(frozen=True)
class TicketMatch:
    """A ticket number found in a text: canonical value and its span."""

    value: str
    start: int
    end: int


def is_ticket_digits(digits: str) -> bool:
    """Whether 14 digits start with a plausible date (2000-01-01 .. 2099-12-31)."""
    if not re.fullmatch(r"\d{14}", digits or ""):
        return False
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if not 2000 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def format_ticket_no(digits: str) -> str | None:
    """Canonical dashed form of 14 ticket digits, else None."""
    d = re.sub(r"\D", "", to_halfwidth(digits or ""))
    return f"{d[:8]}-{d[8:]}" if is_ticket_digits(d) else None


def find_ticket_no(text: str) -> TicketMatch | None:
    """The first ticket number in `text` with its span."""
    if not text:
        return None
    for run in find_digit_runs(to_halfwidth(text), min_digits=14):
        value = format_ticket_no(run.digits)
        if value:
            return TicketMatch(value, run.start, run.end)
    return None


def extract_ticket_no(text: str) -> str | None:
    """The first ticket number in `text` in canonical form "YYYYMMDD-NNNNNN", else None."""
    found = find_ticket_no(text)
    return found.value if found else None
