"""Health answers of the seat's services (issue 14): can this service do its job right now?

Every HTTP service answers JSON `{"status": "ok" | "degraded", "checks": {dependency: true/false}, ...}` with
HTTP 200 when every check passed and 503 otherwise; checks are cheap (one `SELECT 1`, one GET) and bounded by a
short timeout, so a health probe never hangs on a dead dependency. `seat status` reads these answers.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import Engine

PROBE_TIMEOUT_S = 2.0


def _select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def database_ok(engine: Engine, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """The database answers `SELECT 1` within `timeout` seconds (run in a thread: the driver blocks)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(_select_one, engine), timeout)
        return True
    except Exception:  # any driver error or the timeout: not reachable now
        return False


async def http_ok(url: str, session: aiohttp.ClientSession | None = None, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """`url` answers with a status below 500 within `timeout` seconds."""
    probe = aiohttp.ClientTimeout(total=timeout)
    try:
        if session is None:
            async with aiohttp.ClientSession(timeout=probe) as own:
                async with own.get(url) as resp:
                    return resp.status < 500
        async with session.get(url, timeout=probe) as resp:
            return resp.status < 500
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


def health_answer(checks: dict[str, bool], **info: Any) -> tuple[dict[str, Any], int]:
    """The JSON body and HTTP status of a health answer: 200 when every check passed, else 503."""
    healthy = all(checks.values())
    return {"status": "ok" if healthy else "degraded", "checks": checks, **info}, 200 if healthy else 503
