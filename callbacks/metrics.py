"""The callbacks service's metrics (issue 14): the queue of due tries, by channel. Try outcomes are counted by
the store where they are written (`seat_callback_tries_total`, ground/store/survey_tries.py). Served on
CALLBACKS_METRICS_PORT (loopback): the service has no HTTP port of its own."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from prometheus_client import Gauge
from sqlalchemy.engine import Engine

from ground.store import claims
from ground.tables.callbacks import SurveyChannel
from ground.tables.tickets import utcnow

log = logging.getLogger(__name__)

QUEUE_DEPTH = Gauge("seat_callback_queue_depth", "Survey tries due now and not taken by a worker, by channel",
                    ["channel"])


async def refresh_queue_depth(engine: Engine, now: datetime | None = None) -> dict[str, int]:
    """Read the queue's depth from the store into the gauge (every channel, 0 when none is due)."""
    depth = await asyncio.to_thread(claims.due_tries, engine, now or utcnow())
    for channel in SurveyChannel:
        QUEUE_DEPTH.labels(channel.value).set(depth.get(channel.value, 0))
    return depth


async def watch_queue_depth(engine: Engine, stop: asyncio.Event, every_s: float) -> None:
    """Refresh the gauge every `every_s` seconds until `stop` is set (a failing read is logged, never fatal)."""
    while not stop.is_set():
        try:
            await refresh_queue_depth(engine)
        except Exception as exc:  # the database may be down: the workers say so themselves
            log.warning("callback queue depth not read: %s", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), every_s)
        except asyncio.TimeoutError:
            pass
