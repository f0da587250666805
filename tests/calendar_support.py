"""A frozen clock for the tests whose meaning depends on the calendar (issue 20).

`calendar_now` (a fixture in conftest) runs a test once per instant of :data:`SWEEP`: the first and last minute of
a month in Beijing time (which is still the previous day in UTC, or already the next one), the 31st, New Year's Eve
and a leap day. The clock ticks from there (`tick=True`), so timeouts and the event loop behave as usual.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BEIJING)


SWEEP = {
    "1st-00:01": beijing(2026, 12, 1, 0, 1),      # 2026-11-30 16:01 UTC: UTC is still in November
    "31st-23:59": beijing(2026, 10, 31, 23, 59),  # 2026-10-31 15:59 UTC: the last minute of a 31-day month
    "new-year-eve-23:59": beijing(2026, 12, 31, 23, 59),
    "new-year-00:01": beijing(2027, 1, 1, 0, 1),  # 2026-12-31 16:01 UTC: UTC is still in the old year
    "3rd-midday": beijing(2026, 12, 3, 12, 0),    # the day issue 20 was found (40 days back is two months back)
    "leap-day": beijing(2028, 2, 29, 8, 30),
}


def mid_month(month: str, day: int = 15) -> datetime:
    """Noon Beijing time on `day` of `month` ("2026-11")."""
    year, mon = map(int, month.split("-"))
    return beijing(year, mon, day)


def previous_month(month: str) -> str:
    year, mon = map(int, month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def month_of(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m")


def beijing_day(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y%m%d")


__all__ = ["BEIJING", "SWEEP", "beijing", "beijing_day", "mid_month", "month_of", "previous_month"]
