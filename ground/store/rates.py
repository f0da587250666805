"""The three rates per unit and month (响应率, 解决率, 满意率), from completed surveys.

A survey counts in the month (hotline time zone) it was completed, for the ticket's ``assigned_unit``:

- response rate     = surveys saying the unit contacted the citizen / answered surveys
- resolution rate   = surveys saying the problem is solved / answered surveys
- satisfaction rate = (满意 + weight × 基本满意) / answered surveys (weight 0.8 unless configured)
- score             = 0.1 × response + 0.45 × resolution + 0.45 × satisfaction (the 接诉即办 weighting);
  units are ranked by score, then by the number of answered surveys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional, Union
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ground.tables.callbacks import survey_results
from ground.settings import DEFAULT_TIMEZONE
from ground.tables.tickets import tickets, units

UNASSIGNED = "(未指派)"
SCORE_WEIGHTS = (0.10, 0.45, 0.45)  # response, resolution, satisfaction
Bind = Union[Engine, Connection, Session]


@dataclass(frozen=True)
class UnitRates:
    """One unit's month."""

    month: str               # YYYY-MM
    unit: str                # tickets.assigned_unit (a unit code), or UNASSIGNED
    unit_name: str
    answered: int            # completed surveys
    contacted: int
    solved: int
    satisfied: int
    basically_satisfied: int
    unsatisfied: int
    response_rate: float
    resolution_rate: float
    satisfaction_rate: float
    score: float
    rank: int = 0


def parse_month(month: Union[str, date]) -> date:
    """'2026-10' (or a date) -> the first day of that month; a clear error otherwise."""
    if isinstance(month, date):
        return month.replace(day=1)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", (month or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month must look like 2026-10, got {month!r}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(first: date, tz: str = DEFAULT_TIMEZONE) -> tuple[datetime, datetime]:
    """[start, end) of the month in the hotline's time zone, as aware datetimes."""
    zone = ZoneInfo(tz)
    return datetime.combine(first, datetime.min.time(), zone), datetime.combine(shift_month(first, 1), datetime.min.time(), zone)


def _count(condition) -> object:
    return func.sum(case((condition, 1), else_=0)).cast(Integer)


def unit_rates(bind: Bind, month: Union[str, date], *, weight: float = 0.8, tz: str = DEFAULT_TIMEZONE) -> list[UnitRates]:
    """The rates of every unit with completed surveys in `month`, best first (rank 1 = best)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError("the 基本满意 weight must be within 0..1")
    first = parse_month(month)
    start, end = month_bounds(first, tz)
    unit = func.coalesce(tickets.c.assigned_unit, UNASSIGNED)
    s = survey_results.c
    stmt = (
        select(unit.label("unit"), func.max(units.c.name).label("unit_name"), func.count().label("answered"),
               _count(s.responded.is_(True)).label("contacted"), _count(s.resolved.is_(True)).label("solved"),
               _count(s.satisfaction == "satisfied").label("satisfied"),
               _count(s.satisfaction == "basically_satisfied").label("basically"),
               _count(s.satisfaction == "unsatisfied").label("unsatisfied"))
        .select_from(survey_results.join(tickets, tickets.c.id == s.ticket_id)
                     .outerjoin(units, units.c.code == tickets.c.assigned_unit))
        .where(s.completed_at.is_not(None), s.completed_at >= start, s.completed_at < end)
        .group_by(unit)
    )
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            rows = conn.execute(stmt).all()
    else:
        rows = bind.execute(stmt).all()
    label = first.strftime("%Y-%m")
    result = []
    for r in rows:
        n = r.answered
        response, resolution = r.contacted / n, r.solved / n
        satisfaction = (r.satisfied + weight * r.basically) / n
        score = sum(w * v for w, v in zip(SCORE_WEIGHTS, (response, resolution, satisfaction)))
        result.append(UnitRates(label, r.unit, r.unit_name or r.unit, n, r.contacted, r.solved, r.satisfied,
                                r.basically, r.unsatisfied, response, resolution, satisfaction, score))
    result.sort(key=lambda u: (-round(u.score, 9), -u.answered, u.unit))
    return [UnitRates(**{**u.__dict__, "rank": i}) for i, u in enumerate(result, 1)]


@dataclass(frozen=True)
class Trend:
    """A unit's month against the month before (None when it had no surveys then)."""

    current: UnitRates
    previous: Optional[UnitRates]

    def delta(self, field_name: str) -> Optional[float]:
        if self.previous is None:
            return None
        return getattr(self.current, field_name) - getattr(self.previous, field_name)


def month_on_month(bind: Bind, month: Union[str, date], *, weight: float = 0.8, tz: str = DEFAULT_TIMEZONE) -> list[Trend]:
    """This month's ranking with each unit's previous month alongside."""
    first = parse_month(month)
    previous = {u.unit: u for u in unit_rates(bind, shift_month(first, -1), weight=weight, tz=tz)}
    return [Trend(u, previous.get(u.unit)) for u in unit_rates(bind, first, weight=weight, tz=tz)]
