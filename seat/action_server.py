"""The action server entry: Rasa SDK's server, but an action error never puts the tracker in a log or an answer.

rasa_sdk's own handler answers 500 with ``{"error": str(exc), "request_body": <the whole tracker>}`` and Rasa logs
that body: the citizen's words, phone and address end up in Rasa's log. Here the answer carries only the action's
name, and the log line the action name, the exception's type and its message masked (ground/masking.py).

Run as ``python -m seat.action_server --actions bot.actions --port 5055 [--host 127.0.0.1]`` (rasa_sdk's
arguments, and the listen address instead of rasa_sdk's SANIC_HOST).
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser, create_ssl_context
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response

from ground.masking import mask_text

logger = logging.getLogger(__name__)


def _action_name(request: Any) -> str:
    try:
        body = request.json
    except Exception:  # unreadable body: nothing to name
        return "?"
    return str(body.get("next_action", "?")) if isinstance(body, dict) else "?"


async def safe_exception_handler(request: Any, exception: Exception) -> Any:
    """Log and answer an action error without the request body (the tracker)."""
    name = _action_name(request)
    logger.error("action %s failed: %s: %s", name, type(exception).__name__, mask_text(str(exception))[:300])
    return response.json({"error": "action failed", "action_name": name}, status=500)


def build_app(actions: str, cors_origins: Any = None, auto_reload: bool = False) -> Sanic:
    """rasa_sdk's app with the safe exception handler in place of its own."""
    app = create_app(actions, cors_origins=cors_origins, auto_reload=auto_reload)
    app.error_handler.add(Exception, safe_exception_handler)  # replaces rasa_sdk's handler for Exception
    return app


def main(argv: list[str] | None = None) -> None:
    parser = create_argument_parser()
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback: Rasa is its client)")
    args = parser.parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()
    app = build_app(args.actions, cors_origins=args.cors, auto_reload=args.auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = args.host
    logger.info("action server on %s:%s", host, args.port)
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main(sys.argv[1:])
