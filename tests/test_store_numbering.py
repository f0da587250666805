"""Pure helpers: ticket numbers, phone normalisation, masking."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from ground.masking import mask_name, mask_phone
from ground.store.numbering import (
    format_ticket_no,
    normalize_phone,
    normalize_ticket_no,
    ticket_day,
)


def test_format_ticket_no() -> None:
    assert format_ticket_no(date(2026, 11, 26), 123) == "20261126-000123"
    with pytest.raises(ValueError):
        format_ticket_no(date(2026, 11, 26), 0)


def test_ticket_day_uses_shanghai_time() -> None:
    assert ticket_day(datetime(2026, 11, 25, 15, 59, tzinfo=timezone.utc)) == date(2026, 11, 25)
    assert ticket_day(datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc)) == date(2026, 11, 26)
    assert ticket_day(datetime(2026, 11, 25, 16, 0)) == date(2026, 11, 26)  # naive = UTC


@pytest.mark.parametrize(
    "text, expected",
    [
        ("20261126-000123", "20261126-000123"),
        ("20261126000123", "20261126-000123"),
        (" 2026 1126 000123 ", "20261126-000123"),
        ("2026112600012", None),
        ("", None),
        (None, None),
        ("abc", None),
    ],
)
def test_normalize_ticket_no(text, expected) -> None:
    assert normalize_ticket_no(text) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("139-1234-2222", "13912342222"),
        ("+86 139 1234 2222", "13912342222"),
        ("0086 13912342222", "13912342222"),
        ("010-6512-3456", "01065123456"),
        ("", None),
        ("--", None),
        (None, None),
    ],
)
def test_normalize_phone(raw, expected) -> None:
    assert normalize_phone(raw) == expected


def test_masks() -> None:
    assert mask_phone("13912342222") == "139****2222"
    assert mask_phone("+86 139 1234 2222") == "139****2222"
    assert mask_phone("12345678") == "12****78"
    assert mask_phone("12345") == "*****"
    assert mask_phone(None) is None
    assert mask_name("王五") == "王*"
    assert mask_name("王小明") == "王**"
    assert mask_name("王") == "*"
    assert mask_name(None) is None
