"""The three rates (响应率, 解决率, 满意率) per unit and month for the dashboard, from the callbacks
service's completed surveys (ground.store.rates)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Engine

from admin.services import charts
from ground.store import rates
def unit_rate_figures(engine: Engine, months: list[str]) -> dict[str, Any] | None:
    """Chart of the overall rates per month, the units of the last month ranked, and each unit's months."""
    per_month = {m: rates.unit_rates(engine, m) for m in months}
    overall: dict[str, list[float | None]] = {"响应率": [], "解决率": [], "满意率": []}
    for m in months:
        units = per_month[m]
        answered = sum(u.answered for u in units)
        for label, attr in (("响应率", "response_rate"), ("解决率", "resolution_rate"), ("满意率", "satisfaction_rate")):
            overall[label].append(sum(getattr(u, attr) * u.answered for u in units) / answered if answered else None)
    history: dict[str, dict[str, Any]] = defaultdict(dict)
    names: dict[str, str] = {}
    for m, units in per_month.items():
        for u in units:
            history[u.unit][m] = u
            names[u.unit] = u.unit_name
    return {
        "chart": Markup(charts.rate_lines(months, overall, "三率（全部单位，按回访完成月份）")),
        "latest": per_month[months[-1]],
        "history": [(names[k], [history[k].get(m) for m in months]) for k in sorted(history, key=lambda k: names[k])],
        "months": months,
    }
