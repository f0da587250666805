"""`python -m seat.action_run --actions bot.actions --host H --port P`: rasa_sdk's action server that refuses
every call without the shared secret (issue 13, finding 1).

Anyone who could post to plain rasa_sdk's `/webhook` could send a forged tracker and file tickets, record or
complete surveys. Here each request except `/health` and `/metrics` must carry ACTION_TOKEN in the `X-Seat-Action-Token`
header, which Rasa sends from endpoints.yml's `action_endpoint.headers` (seat.services.write_endpoints). A refused
call is answered 403 and logged with its method, path and peer only: never its body (a tracker full of personal
data). The secret comes from the environment (ACTION_TOKEN, else .run/action_token), never argv.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import logging

from rasa_sdk import utils
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import runtime
from ground import memdebug
from ground.metrics import CONTENT_TYPE, exposition
from ground.settings import ACTION_TOKEN_HEADER, action_token, current
from ground.store.spool import keep_draining
from seat.action_server import build_app

log = logging.getLogger("seat.action_run")
OPEN_PATHS = frozenset({"/health", "/metrics"})


def guard(app: Sanic, token: str) -> Sanic:
    """`app` answering 403 to every request but /health without `token` in ACTION_TOKEN_HEADER."""
    expected = token.encode()

    async def require_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(ACTION_TOKEN_HEADER, "").encode()
        if given and hmac.compare_digest(given, expected):
            return None
        log.warning("action server: refused %s %s from %s (%s)", request.method, request.path, request.ip,
                    "wrong secret" if given else "no secret")
        return response.json({"error": "forbidden: Rasa's calls only"}, status=403)

    app.register_middleware(require_token, "request")
    return app


async def metrics(_: Request) -> HTTPResponse:
    """`GET /metrics` (no secret: loopback, no personal data): tickets written and handoffs recorded by the
    actions of this process, and the process's own figures."""
    return response.raw(exposition(), content_type=CONTENT_TYPE)


def with_spool_drainer(app: Sanic, every_s: float) -> Sanic:
    """`app` running the spool's drainer while it serves: tickets and handoffs kept on disk while the database was
    down (ground/store/spool.py) are written when it is back, now and every `every_s` seconds."""

    async def start(app_: Sanic, _loop=None) -> None:
        app_.ctx.spool_stop = asyncio.Event()
        app_.ctx.spool_task = asyncio.ensure_future(
            keep_draining(runtime.spool(), runtime.ticket_store, every_s, app_.ctx.spool_stop))

    async def stop(app_: Sanic, _loop=None) -> None:
        app_.ctx.spool_stop.set()
        await app_.ctx.spool_task

    app.register_listener(start, "after_server_start")
    app.register_listener(stop, "before_server_stop")
    return app


def create_app(actions: str, token: str, spool_drain_s: float | None = None) -> Sanic:
    """rasa_sdk's app for the `actions` package, without CORS (no browser calls it), behind `token`; an action
    error is answered and logged without the tracker (seat.action_server); with the spool's drainer."""
    if not token:
        raise ValueError("the action server needs a secret (ACTION_TOKEN)")
    app = guard(build_app(actions, cors_origins=None), token)
    app.add_route(metrics, "/metrics", methods=["GET"], name="seat_metrics")
    return with_spool_drainer(app, spool_drain_s or current().db.spool_drain_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the seat's action server (rasa_sdk behind a shared secret)")
    parser.add_argument("--actions", default="bot.actions")
    parser.add_argument("--host", default=None, help="listen address (default ACTION_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default ACTION_PORT or 5055)")
    utils.add_logging_level_option_arguments(parser)
    args = parser.parse_args(argv)
    memdebug.install_from_env("actions")  # off unless SEAT_MEMDEBUG_DIR is set (diagnosis only)
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    settings = current()
    host = args.host or settings.internal.action_host
    port = args.port or settings.rasa.action_port
    app = create_app(args.actions, action_token(settings))
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    log.info("action server on http://%s:%d (calls need the %s header)", host, port, ACTION_TOKEN_HEADER)
    app.run(host, port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
