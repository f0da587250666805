"""Prometheus metrics: the tiny helpers every service shares (issue 14).

Each service is a process of its own with its own registry (prometheus_client's default one) and its own
`/metrics` endpoint; the metric definitions live in the layer where the thing is observed (tickets and handoffs
in the store, calls in voice/, chat admission in seat/, ...). Label values are always from a bounded set:
never a conversation id, a phone or free text (`label()`, `channel_label()`, `handoff_reason_label()`).
"""
from __future__ import annotations

from typing import Iterable, Optional

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, disable_created_metrics, generate_latest

disable_created_metrics()  # no `_created` series: they double the series count and no panel uses them

CHANNELS = ("voice", "web", "rest", "wechat", "web_form", "socketio")
HANDOFF_REASONS = {
    "citizen asked for a human agent": "asked",
    "two failed understandings in a row": "not_understood",
    "ticket store error": "store_error",
    "dialogue unavailable": "dialogue_unavailable",
}
# Latency buckets (seconds) for a dialogue turn: fast answers up to the phone's 8 s handoff deadline and beyond.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 15.0, 30.0)


def label(value: object, allowed: Iterable[str], other: str = "other") -> str:
    """`value` when it is one of `allowed`, else `other`: a label never takes an unbounded value."""
    return value if isinstance(value, str) and value in allowed else other


def channel_label(channel: object) -> str:
    """One of CHANNELS, or "other"."""
    return label(channel, CHANNELS)


def handoff_reason_label(reason: object) -> str:
    """A short fixed name for a handoff reason (asked, not_understood, store_error, dialogue_unavailable, other)."""
    return HANDOFF_REASONS.get(reason, "other") if isinstance(reason, str) else "other"


CONTENT_TYPE = CONTENT_TYPE_LATEST  # the text exposition format's Content-Type


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The text format of `registry` (this process's metrics)."""
    return generate_latest(registry)


async def aiohttp_metrics(_: web.Request) -> web.Response:
    """`GET /metrics` for an aiohttp app: this process's metrics."""
    return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app() -> web.Application:
    """An aiohttp app with `/metrics` only (for a service whose own port faces citizens, or has none)."""
    app = web.Application()
    app.router.add_get("/metrics", aiohttp_metrics)
    return app


async def start_metrics_site(host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `/metrics` on `host:port` (0 = a free port) from the running event loop; the runner (clean it up)
    and the port it got."""
    runner = web.AppRunner(metrics_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


def sample(name: str, labels: Optional[dict[str, str]] = None, registry: CollectorRegistry = REGISTRY) -> float:
    """The current value of one sample (0 when absent): for tests and benches reading their own process."""
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)
