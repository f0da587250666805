"""Time of occurrence relative to a fixed now (Thursday 2024-03-14 15:30)."""
from datetime import datetime, timedelta, timezone

import pytest

from nlu.when import parse_occurred_at, parse_occurrence

NOW = datetime(2024, 3, 14, 15, 30)


@pytest.mark.parametrize("text,expected", [
    ("今天", datetime(2024, 3, 14)),
    ("昨天", datetime(2024, 3, 13)),
    ("前天", datetime(2024, 3, 12)),
    ("大前天", datetime(2024, 3, 11)),
    ("三天前", datetime(2024, 3, 11)),
    ("3天前", datetime(2024, 3, 11)),
    ("上周", datetime(2024, 3, 7)),
    ("上周三", datetime(2024, 3, 6)),
    ("上个星期五", datetime(2024, 3, 8)),
    ("周一", datetime(2024, 3, 11)),
    ("星期五那天", datetime(2024, 3, 8)),
    ("昨天晚上十一点", datetime(2024, 3, 13, 23, 0)),
    ("昨晚11点半", datetime(2024, 3, 13, 23, 30)),
    ("前天下午三点半", datetime(2024, 3, 12, 15, 30)),
    ("今天凌晨两点多", datetime(2024, 3, 14, 2, 0)),
    ("今天早上八点一刻", datetime(2024, 3, 14, 8, 15)),
    ("昨天晚上两点", datetime(2024, 3, 14, 2, 0)),
    ("晚上十一点", datetime(2024, 3, 13, 23, 0)),
    ("十一点", datetime(2024, 3, 14, 11, 0)),
    ("三点", datetime(2024, 3, 14, 15, 0)),
    ("23:30", datetime(2024, 3, 13, 23, 30)),
    ("2024年3月5日", datetime(2024, 3, 5)),
    ("3月5号", datetime(2024, 3, 5)),
    ("12月31号", datetime(2023, 12, 31)),
    ("这个月5号", datetime(2024, 3, 5)),
    ("上个月20号", datetime(2024, 2, 20)),
    ("上个月", datetime(2024, 2, 1)),
    ("去年", datetime(2023, 1, 1)),
    ("刚才", NOW),
    ("两个小时前", NOW - timedelta(hours=2)),
    ("半小时前", NOW - timedelta(minutes=30)),
    ("垃圾三天没人清运了", datetime(2024, 3, 11)),
    ("已经一个星期了", datetime(2024, 3, 7)),
    ("昨晚", datetime(2024, 3, 13, 20, 0)),
])
def test_parse_occurred_at(text, expected):
    assert parse_occurred_at(text, NOW) == expected


@pytest.mark.parametrize("text", [
    "每天晚上", "天天半夜吵", "经常这样", "一到晚上就开始", "三天两头停水", "一直", "最近", "明天", "下周",
    "声音小一点", "住在5号楼", "我住在12号，楼下很吵", "三天内解决", "", "几天前",
])
def test_no_single_time(text):
    assert parse_occurred_at(text, NOW) is None


def test_recurring_and_ongoing_flags():
    assert parse_occurrence("每天晚上都吵", NOW).recurring
    found = parse_occurrence("已经三天了", NOW)
    assert found.ongoing and found.precision == "day"
    assert parse_occurrence("昨天晚上十一点", NOW).precision == "minute"
    assert parse_occurrence("昨天晚上", NOW).precision == "part_of_day"


def test_timezone_is_kept():
    now = datetime(2024, 3, 14, 15, 30, tzinfo=timezone(timedelta(hours=8)))
    assert parse_occurred_at("昨天晚上十一点", now) == datetime(2024, 3, 13, 23, 0, tzinfo=now.tzinfo)
    assert parse_occurred_at("上周三", now).tzinfo == now.tzinfo
