"""Dashboards page: charts of volumes, rising categories, KB one-time resolution, the three rates."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web
from markupsafe import Markup

from admin.services import charts

from admin.services import dashboards
from admin.common import render
from admin.keys import ENGINE, run_sync
from admin.security import requires
from admin.services.handoff_figures import handoff_figures
from admin.services.unit_rates import unit_rate_figures
from ground.store.kb_rates import one_time_resolution
from ground.settings import HOTLINE_TZ


def _figures(engine, month: str, count: int) -> dict:
    months = dashboards.last_months(datetime.strptime(month + "-15", "%Y-%m-%d").replace(tzinfo=HOTLINE_TZ), count)
    vols = dashboards.volumes(engine, months)
    volume_charts = {
        label: Markup(charts.stacked_bars(months, dashboards.stacked_series(vols[dim], months),
                                          f"按{label}的工单量（每月）"))
        for dim, label in dashboards.DIMENSIONS.items()
    }
    kb = {r.period: r for r in one_time_resolution(engine, by="month")}
    kb_rows = [kb[m] for m in months if m in kb]
    kb_chart = Markup(charts.rate_lines(months, {"一次解决率": [kb[m].rate if m in kb else None for m in months]},
                                        "知识库一次解决率"))
    return {"months": months, "volume_charts": volume_charts, "rising": dashboards.rising_categories(engine, month),
            "kb_rows": kb_rows, "kb_chart": kb_chart, "unit_rates": unit_rate_figures(engine, months),
            "handoffs": handoff_figures(engine, month)}


@requires("dashboards")
async def dashboards_page(request: web.Request) -> web.Response:
    now_month = dashboards.month_of(datetime.now(HOTLINE_TZ))
    month = request.query.get("month", now_month)
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        month = now_month
    try:
        count = min(max(int(request.query.get("months", "6")), 2), 24)
    except ValueError:
        count = 6
    figures = await run_sync(request.app, _figures, request.app[ENGINE], month, count)
    return await render(request, "dashboards.html", month=month, count=count, **figures)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboards", dashboards_page)
