"""When did it happen: common Mandarin time expressions relative to `now`.

"昨天晚上十一点" -> yesterday 23:00; "三天前" / "垃圾三天没人清运了" -> three days ago (the day);
"上周三" -> that date; "凌晨两点" -> today 02:00 (yesterday if that is still to come);
"每天晚上", "天天", "经常" -> recurring: no single time (None). Future words ("明天") give None.
The result keeps `now`'s tzinfo; a day without a time is 00:00 of that day (see `precision`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from nlu.digits import cn_to_int, to_halfwidth

_N_CHARS = "0-9零〇一二两三四五六七八九十百"
# A number starts only where a run of number characters starts: without the look-behind every
# pattern below retries from each character inside a long run and backtracks over the rest of it,
# which made one message of 40,000 digits cost minutes (quadratic). The match found is the same:
# the leftmost match of a run always began at the run's first character.
N = rf"(?<![{_N_CHARS}])[{_N_CHARS}]+"
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}

_RECURRING = re.compile(
    r"每(天|日|晚|周|星期|个?礼拜|个?月|年|次|到|逢|隔|个晚上|天晚上|天早上|天夜里)|天天|夜夜|经常|总是|老是|时常|常常|"
    r"隔三差五|三天两头|反反复复|一到(晚上|周末|夜里|半夜|下雨)就|整天|成天"
)
_FUTURE = re.compile(r"明天|后天|下周|下个?星期|下个?礼拜|下个月|明年|明早|明晚")
_DATE_FULL = re.compile(rf"(?:(\d{{4}}|[零〇一二三四五六七八九]{{4}})年)?({N})月({N})[日号]")
_DATE_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DAY_ONLY = re.compile(
    rf"(这个月|本月|上个?月)?({N})[号日](?!楼|院|线|门|床|机|口)(?=(那天|晚上|早上|上午|下午|中午|夜里|凌晨|的时候|当天)?)"
)
_RELATIVE_DAYS = (
    (re.compile(r"大前天"), -3), (re.compile(r"前天|前日|前儿"), -2),
    (re.compile(r"昨天|昨日|昨儿|昨晚|昨夜|昨早|昨个"), -1), (re.compile(r"今天|今日|今儿|今早|今晚|今晨|今个"), 0),
)
_JUST_NOW = re.compile(r"刚才|刚刚|方才|就在刚")
_AGO = re.compile(rf"({N}|半|几)(多)?(个)?(分钟|小时|钟头|天|日|周|星期|礼拜|月|年)(以前|之前|前)")
_DURATION = re.compile(
    rf"(?:(?:已经|都|这|连续|持续|快|有)(?P<n1>{N}|半)(?P<m1>多)?个?(?P<m2>多)?(?P<u1>天|周|星期|礼拜|月|年|小时)"
    rf"|(?P<n2>{N}|半)(?P<m3>多)?个?(?P<m4>多)?(?P<u2>天|周|星期|礼拜|月|年|小时)(?:了|没|都|一直|以来|多了))"
)
_LAST_WEEK = re.compile(r"上(个)?(周|星期|礼拜)([一二三四五六日天末1-7])?")
_THIS_WEEK = re.compile(r"(?:这|本)(?:个)?(?:周|星期|礼拜)([一二三四五六日天末1-7])|(?<![上下这本个])(?:周|星期|礼拜)([一二三四五六日天末1-7])")
_LAST_MONTH = re.compile(r"上(个)?月")
_LAST_YEAR = re.compile(r"去年|前年")
_PERIOD = re.compile(r"凌晨|清早|一早|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|半夜|深夜|午夜|晚间|今晚|昨晚|今早|昨早|今晨")
_CLOCK = re.compile(rf"({N})[点时](?:(半)|(一刻)|(三刻)|({N})分?)?(钟)?")
_HHMM = re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?!\d)")
_PERIOD_HOUR = {"凌晨": 3, "清早": 6, "一早": 7, "早上": 7, "早晨": 7, "今早": 7, "昨早": 7, "今晨": 7, "上午": 9,
                "中午": 12, "下午": 15, "傍晚": 18, "晚上": 20, "今晚": 20, "昨晚": 20, "晚间": 20, "夜间": 22,
                "夜里": 23, "深夜": 23, "半夜": 0, "午夜": 0}
_PM = {"下午", "傍晚", "晚上", "今晚", "昨晚", "晚间", "夜间", "夜里", "深夜"}


@dataclass(frozen=True)
class Occurrence:
    """A parsed time: `at` (None when recurring), how precise it is, and whether it still goes on."""

    at: datetime | None
    precision: str  # "minute" | "part_of_day" | "day" | "week" | "month" | "year" | "recurring"
    recurring: bool = False
    ongoing: bool = False


def _num(s: str) -> int | None:
    return 0 if s == "半" else cn_to_int(s)


def _ago(now: datetime, amount: float, unit: str) -> tuple[datetime, str] | None:
    """`now` minus an amount of a unit, with the precision that implies (days and longer at 00:00);
    None when that is before year 1 ("9999年前"): not a usable time."""
    try:
        when, precision = _ago_exact(now, amount, unit)
    except OverflowError:
        return None
    if precision != "minute":
        when = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return when, precision


def _ago_exact(now: datetime, amount: float, unit: str) -> tuple[datetime, str]:
    if unit in ("分钟",):
        return now - timedelta(minutes=amount), "minute"
    if unit in ("小时", "钟头"):
        return now - timedelta(hours=amount), "minute"
    if unit in ("天", "日"):
        return now - timedelta(days=amount), "day"
    if unit in ("周", "星期", "礼拜"):
        return now - timedelta(weeks=amount), "week"
    if unit == "月":
        return now - timedelta(days=round(30 * amount)), "month"
    return now - timedelta(days=round(365 * amount)), "year"


def _amount(num: str, half: bool = False) -> float | None:
    if num == "半":
        return 0.5
    value = cn_to_int(num)
    return None if value is None else value + (0.5 if half else 0)


def _day_anchor(t: str, now: datetime) -> tuple[datetime, str, bool] | None:
    """(the day or instant, precision, ongoing) from day words, dates and 'N days ago'."""
    m = _DATE_ISO.search(t) or _DATE_FULL.search(t)
    if m:
        year = cn_to_int(m.group(1)) if m.group(1) else now.year
        month, day = cn_to_int(m.group(2)), cn_to_int(m.group(3))
        try:
            when = now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
        except (TypeError, ValueError):
            return None
        if not m.group(1) and when > now:
            when = when.replace(year=when.year - 1)
        return when, "day", False
    if _JUST_NOW.search(t):
        return now, "minute", False
    for pattern, delta in _RELATIVE_DAYS:
        if pattern.search(t):
            return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=delta), "day", False
    m = _AGO.search(t)
    if m and m.group(1) != "几":
        amount = _amount(m.group(1), bool(m.group(2)) and m.group(1) != "半")
        ago = _ago(now, amount, m.group(4)) if amount is not None else None
        if ago is not None:
            return ago + (False,)
    m = _LAST_WEEK.search(t)
    if m:
        monday = now.date() - timedelta(days=now.weekday() + 7)
        if m.group(3):
            day = monday + timedelta(days=_WEEKDAYS[m.group(3)])
            return datetime.combine(day, datetime.min.time(), now.tzinfo), "day", False
        return _ago(now, 1, "周") + (False,)  # type: ignore[operator]  # one week back always fits
    m = _THIS_WEEK.search(t)
    if m:
        target = _WEEKDAYS[m.group(1) or m.group(2)]
        back = (now.weekday() - target) % 7
        day = now.date() - timedelta(days=back)
        return datetime.combine(day, datetime.min.time(), now.tzinfo), "day", False
    m = _DAY_ONLY.search(t)
    if m and (m.group(1) or m.group(3)):
        day = cn_to_int(m.group(2))
        base = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if m.group(1) and m.group(1).startswith("上"):
            base = (base.replace(day=1) - timedelta(days=1))
        try:
            when = base.replace(day=day)
        except (TypeError, ValueError):
            return None
        if when > now:
            when = (when.replace(day=1) - timedelta(days=1)).replace(day=min(day, 28))
        return when, "day", False
    m = _DURATION.search(t)
    if m:
        g = m.groupdict()
        num, unit = g["n1"] or g["n2"], g["u1"] or g["u2"]
        more = any(g[k] for k in ("m1", "m2", "m3", "m4"))
        amount = _amount(num, bool(more) and num != "半")
        ago = _ago(now, amount, unit) if amount is not None else None
        if ago is not None:
            return ago + (True,)
    if _LAST_MONTH.search(t):
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (first - timedelta(days=1)).replace(day=1), "month", False
    m = _LAST_YEAR.search(t)
    if m:
        years = 1 if m.group() == "去年" else 2
        return now.replace(year=now.year - years, month=1, day=1, hour=0, minute=0, second=0, microsecond=0), "year", False
    return None


def _clock(t: str) -> tuple[int, int, str | None] | None:
    """(hour, minute, period word) from "晚上十一点半", "23:30", "两点" (a bare "一点" is "a bit")."""
    period = _PERIOD.search(t)
    m = _HHMM.search(t)
    if m:
        return int(m.group(1)), int(m.group(2)), None
    for m in _CLOCK.finditer(t):
        hour = cn_to_int(m.group(1))
        if hour is None or hour > 24:
            continue
        minute = 30 if m.group(2) else 15 if m.group(3) else 45 if m.group(4) else cn_to_int(m.group(5) or "0") or 0
        if hour == 1 and m.group(1) == "一" and not (period or m.group(6) or m.group(2) or m.group(5)):
            continue  # "小一点", "有一点吵"
        near = _PERIOD.search(t[max(0, m.start() - 4):m.start()])
        return hour, min(minute, 59), (near or period).group() if (near or period) else None
    return None


_NIGHT = {"晚上", "今晚", "昨晚", "夜里", "夜间", "深夜", "半夜", "午夜"}


def _apply_clock(day: datetime, hour: int, minute: int, period: str | None) -> datetime:
    """The instant on `day` for a clock time, using the period word for 12-hour times."""
    if period in _NIGHT and hour <= 4:
        day = day + timedelta(days=1)  # "晚上两点", "半夜一点": after midnight
    elif period in _PM and hour < 12:
        hour += 12
    elif period == "中午" and hour < 6:
        hour += 12
    elif period in ("半夜", "午夜") and hour == 12:
        hour, day = 0, day + timedelta(days=1)
    if hour == 24:
        hour, day = 0, day + timedelta(days=1)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _most_recent(candidates: list[datetime], now: datetime) -> datetime | None:
    past = [c for c in candidates if c <= now]
    return max(past) if past else None


def parse_occurrence(text: str, now: datetime) -> Occurrence | None:
    """The time the problem happened, with its precision; None when nothing usable is said."""
    t = to_halfwidth(text or "").replace(" ", "")
    if not t:
        return None
    if _RECURRING.search(t):
        return Occurrence(None, "recurring", recurring=True)
    anchor = _day_anchor(t, now)
    if anchor is None and _FUTURE.search(t):
        return None
    if anchor and anchor[1] != "day":
        when, precision, ongoing = anchor
        return Occurrence(when, precision, False, ongoing) if when <= now else None
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = anchor[0] if anchor else today
    ongoing = bool(anchor and anchor[2])
    clock = _clock(t)
    if clock is None:
        period = _PERIOD.search(t)
        if period:
            hour = _PERIOD_HOUR[period.group()] or 23
            when = day.replace(hour=hour)
            if anchor is None:
                when = _most_recent([when, when - timedelta(days=1)], now)
            return Occurrence(when, "part_of_day", False, ongoing) if when and when <= now else None
        if anchor is None:
            return None
        return Occurrence(day, "day", False, ongoing) if day <= now else None
    hour, minute, period = clock
    when = _apply_clock(day, hour, minute, period)
    if anchor is None:
        options = [when, when - timedelta(days=1)]
        if period is None and hour < 12:
            options += [o + timedelta(hours=12) for o in options]
        when = _most_recent(options, now)
    return Occurrence(when, "minute", False, ongoing) if when and when <= now else None


def parse_occurred_at(text: str, now: datetime) -> datetime | None:
    """When the problem happened, or None (not said, vague, recurring, or in the future)."""
    found = parse_occurrence(text, now)
    return found.at if found else None
