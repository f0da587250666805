"""When the hotline may call citizens back: working days (mainland holidays and make-up working
days from `chinese-calendar`, plus configured extra dates) between two local times."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar

DEFAULT_TIMEZONE = "Asia/Shanghai"  # Beijing time: ticket days, calling windows, reports


log = logging.getLogger(__name__)


# Statutory holidays on fixed solar dates (New Year's Day, Labour Day, National Day): off in every year, also in
# years whose State Council notice is not out yet (the lunar ones and the make-up days need that notice).
FIXED_HOLIDAYS = ((1, 1), (5, 1), (10, 1), (10, 2), (10, 3))


def _official_workday(day: date) -> bool:
    """Mainland working day (holidays off, make-up Saturdays/Sundays on); past the calendar's data, weekdays less
    the fixed-date statutory holidays."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the package covers the years whose State Council notice is out
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


@dataclass(frozen=True)
class CallingWindow:
    """Calls start in [start, end) local time on working days. ``extra_holidays`` are days off on top of the
    official calendar (local events); ``extra_workdays`` force a day on (they win over everything)."""

    start: time = time(9, 0)
    end: time = time(20, 0)
    tz: str = DEFAULT_TIMEZONE
    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"calling window start {self.start} must be before its end {self.end}")
        if self.extra_holidays & self.extra_workdays:
            raise ValueError("a date cannot be both an extra holiday and an extra working day")

    def is_calling_day(self, day: date) -> bool:
        """Whether calls are made on this local date."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        return _official_workday(day)

    def is_open(self, moment: datetime) -> bool:
        """Whether a call may start at `moment` (aware; naive is UTC)."""
        local = _aware(moment).astimezone(ZoneInfo(self.tz))
        return self.is_calling_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, moment: datetime) -> datetime:
        """`moment` itself when the window is open, else the next opening (aware UTC)."""
        zone = ZoneInfo(self.tz)
        local = _aware(moment).astimezone(zone)
        day = local.date()
        if self.is_calling_day(day) and local.time() < self.end:
            if local.time() >= self.start:
                return _aware(moment).astimezone(timezone.utc)
            return datetime.combine(day, self.start, zone).astimezone(timezone.utc)
        for _ in range(370):  # the longest run of days off is far shorter than a year
            day += timedelta(days=1)
            if self.is_calling_day(day):
                return datetime.combine(day, self.start, zone).astimezone(timezone.utc)
        raise ValueError("no calling day within a year: check the extra holidays")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_dates(text: str | None) -> frozenset[date]:
    """``2026-10-09,2026-12-31`` -> dates; a bad entry raises ValueError naming it."""
    days = set()
    for item in (text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"not a date (YYYY-MM-DD): {item!r}") from None
    return frozenset(days)
