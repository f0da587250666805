"""The callbacks service's health answer (issue 14): it has no port of its own otherwise, so it serves
`GET /health` on CALLBACKS_HEALTH_PORT (loopback): 200 when the database answers and the workers run, else 503
(ground.health). The launcher waits for it and `seat status` reads it."""
from __future__ import annotations

import logging
from typing import Callable

from aiohttp import web
from sqlalchemy.engine import Engine

from ground.health import database_ok, health_answer

log = logging.getLogger("callbacks.health")
HOST = "127.0.0.1"


async def start_health(engine: Engine, port: int, workers_running: Callable[[], bool],
                       workers: int) -> web.AppRunner | None:
    """Serve /health on 127.0.0.1:`port`; None (logged) when the port is taken: the workers run anyway."""

    async def health(_: web.Request) -> web.Response:
        checks = {"database": await database_ok(engine), "workers": workers_running()}
        body, status = health_answer(checks, workers=workers)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
    except OSError as exc:
        log.error("callbacks: health not served on %s:%d: %s (set CALLBACKS_HEALTH_PORT)", HOST, port, exc)
        await runner.cleanup()
        return None
    log.info("callbacks: health on http://%s:%d/health", HOST, port)
    return runner
