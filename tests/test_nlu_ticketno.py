"""Ticket numbers YYYYMMDD-NNNNNN."""
import pytest

from nlu.ticketno import extract_ticket_no, find_ticket_no, format_ticket_no, is_ticket_digits


@pytest.mark.parametrize("text,value", [
    ("20240315-000123", "20240315-000123"),
    ("我的工单号是20240315000123", "20240315-000123"),
    ("工单 2024 0315 000123", "20240315-000123"),
    ("二零二四零三一五 零零零一二三", "20240315-000123"),
    ("编号是二零二六一一二六，零零零一二三", "20261126-000123"),
    ("２０２４０３１５－０００１２３", "20240315-000123"),
    ("查一下二零二四零三一五幺二三四五六的进度", "20240315-123456"),
])
def test_ticket_numbers(text, value):
    assert extract_ticket_no(text) == value


@pytest.mark.parametrize("text", [
    "13912345678", "20241315-000123", "20240230-000123", "20240315-0001", "19990315-000123", "我要查工单", "",
])
def test_not_ticket_numbers(text):
    assert extract_ticket_no(text) is None


def test_span_and_helpers():
    text = "工单号20240315-000123，电话13912345678"
    found = find_ticket_no(text)
    assert text[found.start:found.end] == "20240315-000123"
    assert is_ticket_digits("20240315000123")
    assert format_ticket_no("2024 0315 000123") == "20240315-000123"
