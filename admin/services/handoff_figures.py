"""Dashboard figures of the human agents (issue 16): bot containment, handoff rate and reasons, wait p50/p90 and
abandoned waits, per day and channel, for one month (hotline local time). The definitions are the store's
(``ground.store.handoffs.stats``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Engine

from admin.services import charts
from admin.services.handoffs import CHANNEL_LABELS, reason_label
from ground.settings import HOTLINE_TZ
from ground.store.handoffs import stats


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = map(int, month.split("-"))
    start = datetime(year, mon, 1, tzinfo=HOTLINE_TZ)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=HOTLINE_TZ)
    return start, end


def _row(s) -> dict[str, Any]:
    return {
        "day": s.day.isoformat(), "channel": CHANNEL_LABELS.get(s.channel, s.channel) if s.channel != "all" else "合计",
        "conversations": s.conversations, "handoffs": s.handoffs, "contained": s.contained,
        "containment": s.containment, "handoff_rate": s.handoff_rate,
        "reasons": sorted(((reason_label(r), n) for r, n in s.reasons.items()), key=lambda x: -x[1]),
        "wait_p50_s": s.wait_p50_s, "wait_p90_s": s.wait_p90_s, "abandoned": s.abandoned, "cancelled": s.cancelled,
        "callbacks": s.callbacks,
    }


def handoff_figures(engine: Engine, month: str) -> dict[str, Any]:
    """Per day: all channels together, then each channel; and a chart of containment and handoff rate."""
    start, end = _month_bounds(month)
    tz = str(HOTLINE_TZ)
    totals = stats(engine, start, end, tz=tz, by_channel=False)
    per_channel = stats(engine, start, end, tz=tz, by_channel=True)
    by_day: dict[str, list] = {}
    for s in per_channel:
        by_day.setdefault(s.day.isoformat(), []).append(_row(s))
    rows = []
    for s in totals:
        rows.append(_row(s))
        rows.extend(by_day.get(s.day.isoformat(), []))
    days = [s.day.isoformat()[5:] for s in totals]
    chart = Markup(charts.rate_lines(days, {
        "机器人独立解决率": [s.containment for s in totals], "转人工率": [s.handoff_rate for s in totals],
    }, "机器人独立解决率与转人工率（每日）")) if len(totals) > 1 else None
    return {"rows": rows, "chart": chart}
