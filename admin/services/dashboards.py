"""Dashboard figures: ticket volumes per month by category, district and channel; rising categories
(candidates for 每月一题); the knowledge base's one-time resolution rate; the three rates per unit."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ground.settings import HOTLINE_TZ
from ground.tables.tickets import tickets

DIMENSIONS = {"category": "类别", "district": "区", "channel": "渠道"}
TOP_N = 6


def month_of(ts: datetime) -> str:
    return ts.astimezone(HOTLINE_TZ).strftime("%Y-%m")


def previous_month(month: str) -> str:
    year, mon = map(int, month.split("-"))
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def last_months(now: datetime, count: int) -> list[str]:
    months = [month_of(now)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


def _category_class(category: str | None) -> str:
    """The broad class of a category (`水电气/供电` → `水电气`), so a month's trend is not split too thin."""
    return (category or "未分类").split("/")[0]


def volumes(engine: Engine, months: list[str]) -> dict[str, dict[str, Counter]]:
    """dimension → month → Counter(value → tickets), over the given months (Beijing time)."""
    since = datetime.strptime(months[0] + "-01", "%Y-%m-%d").replace(tzinfo=HOTLINE_TZ) - timedelta(days=1)
    result: dict[str, dict[str, Counter]] = {d: defaultdict(Counter) for d in DIMENSIONS}
    with engine.connect() as conn:
        rows = conn.execute(select(tickets.c.created_at, tickets.c.category, tickets.c.district, tickets.c.channel)
                            .where(tickets.c.created_at >= since)).all()
    wanted = set(months)
    for row in rows:
        month = month_of(row.created_at)
        if month not in wanted:
            continue
        result["category"][month][_category_class(row.category)] += 1
        result["district"][month][row.district or "未知"] += 1
        result["channel"][month][row.channel or "未知"] += 1
    return result


def stacked_series(by_month: dict[str, Counter], months: list[str], top_n: int = TOP_N) -> dict[str, list[int]]:
    """The top values over the period as series, the rest summed as 其他."""
    overall = Counter()
    for month in months:
        overall.update(by_month.get(month, Counter()))
    top = [v for v, _ in overall.most_common(top_n)]
    series = {v: [by_month.get(m, Counter())[v] for m in months] for v in top}
    rest = [sum(by_month.get(m, Counter()).values()) - sum(series[v][i] for v in top) for i, m in enumerate(months)]
    if any(rest):
        series["其他"] = rest
    return series


@dataclass(frozen=True)
class Rising:
    category: str
    count: int
    previous: int

    @property
    def growth(self) -> float:
        return (self.count - self.previous) / self.previous if self.previous else float("inf")


def rising_categories(engine: Engine, month: str, minimum: int = 3, limit: int = 10) -> list[Rising]:
    """Fine categories with the largest month-on-month growth in `month` (at least `minimum` tickets)."""
    months = [previous_month(month), month]
    since = datetime.strptime(months[0] + "-01", "%Y-%m-%d").replace(tzinfo=HOTLINE_TZ)
    counts: dict[str, Counter] = defaultdict(Counter)
    with engine.connect() as conn:
        rows = conn.execute(select(tickets.c.created_at, tickets.c.category)
                            .where(tickets.c.created_at >= since)).all()
    for row in rows:
        m = month_of(row.created_at)
        if m in months:
            counts[m][row.category or "未分类"] += 1
    items = [Rising(c, n, counts[months[0]][c]) for c, n in counts[month].items() if n >= minimum]
    items.sort(key=lambda r: (r.growth, r.count - r.previous, r.count), reverse=True)
    return items[:limit]
