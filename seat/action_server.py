"""The action server's error handling: an action error never puts the tracker in a log or an answer.

rasa_sdk's own handler answers 500 with ``{"error": str(exc), "request_body": <the whole tracker>}`` and Rasa logs
that body: the citizen's words, phone and address end up in Rasa's log. Here the answer carries only the action's
name, and the log line the action name, the exception's type and its message masked (ground/masking.py).

The seat's action server process is ``python -m seat.action_run`` (behind its secret), which builds this app.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk.endpoint import create_app
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

