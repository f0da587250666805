"""When human agents take handoffs (HANDOFF_HOURS, hotline local time): e.g. "08:00-20:00"; "22:00-06:00" spans
midnight; "00:00-24:00" (the default) is around the clock. Outside them nobody is on duty: the bot files the
request as a ticket flagged for a call back instead of queueing the citizen."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from ground.calling_window import DEFAULT_TIMEZONE

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class ServiceHours:
    start_minute: int = 0  # minutes after local midnight
    end_minute: int = 24 * 60
    tz: str = DEFAULT_TIMEZONE

    @classmethod
    def parse(cls, text: str, tz: str = DEFAULT_TIMEZONE) -> "ServiceHours":
        """``HH:MM-HH:MM``; ValueError for anything else (end 24:00 allowed; start == end means never)."""
        m = _SPAN.match(text or "")
        if not m:
            raise ValueError(f"HANDOFF_HOURS={text!r}: use HH:MM-HH:MM, e.g. 08:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"HANDOFF_HOURS={text!r}: not a time of day")
        return cls(h1 * 60 + m1, h2 * 60 + m2, tz)

    @property
    def around_the_clock(self) -> bool:
        return self.start_minute == 0 and self.end_minute == 24 * 60

    def on_duty(self, now: datetime) -> bool:
        """Whether `now` (aware; naive = UTC) is inside the hours."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        local = now.astimezone(ZoneInfo(self.tz))
        minute = local.hour * 60 + local.minute
        if self.start_minute <= self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute  # spans midnight

    def spoken(self) -> str:
        """"08:00到20:00" for what the citizen hears."""
        def hm(minutes: int) -> str:
            return time(minutes // 60 % 24, minutes % 60).strftime("%H:%M") if minutes < 24 * 60 else "24:00"
        return f"{hm(self.start_minute)}到{hm(self.end_minute)}"
