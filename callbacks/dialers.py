"""Outbound calls. A `Dialer` places one call and returns once it is over.

- `AriDialer`: Asterisk ARI (REST): registers the survey context with the voice gateway, originates the
  call into a dialplan context that runs ``AudioSocket(${SURVEY_UUID},gateway:port)``, then follows the
  channel until it is gone.
- `InstantDialer`: in-process, answers at once with a prepared survey (benchmarks and worker tests).
The simulated callee that really talks to the voice gateway is in callbacks/callee.py.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Protocol

import aiohttp

log = logging.getLogger(__name__)
CALL_STATUSES = ("answered", "no_answer", "busy", "failed")


@dataclass(frozen=True)
class CallRequest:
    """One outbound survey call. ``repr`` keeps the phone out of logs."""

    call_id: str        # the AudioSocket UUID and the Rasa sender id
    attempt_id: int
    ticket_no: str
    phone: str = field(repr=False)

    @property
    def context(self) -> dict[str, Any]:
        """What the voice gateway adds to every message's metadata for this call."""
        return {"survey_ticket": self.ticket_no, "attempt_id": self.attempt_id}


@dataclass(frozen=True)
class CallResult:
    status: str  # one of CALL_STATUSES
    detail: str = ""


class Dialer(Protocol):
    async def call(self, request: CallRequest) -> CallResult:
        """Place the call and return when it has ended (or could not be made)."""


async def register_call(session: aiohttp.ClientSession, gateway_url: str, request: CallRequest) -> None:
    """Tell the voice gateway which survey the call with this UUID runs (``POST /calls/{uuid}``)."""
    async with session.post(f"{gateway_url.rstrip('/')}/calls/{request.call_id}",
                            json={"caller": request.phone, "context": request.context}) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"voice gateway refused call context: HTTP {resp.status}")


@dataclass
class AriConfig:
    url: str                        # http://asterisk:8088
    username: str
    password: str = field(repr=False)
    endpoint: str = "PJSIP/{phone}@trunk"  # {phone} is replaced by the citizen's number
    context: str = "survey-callback"      # dialplan context running AudioSocket
    extension: str = "s"
    caller_id: str = "12345"
    ring_timeout_s: int = 40
    poll_interval_s: float = 1.0


class AriDialer:
    """Asterisk ARI originate + channel polling. Busy/no-answer come from the channel's hangup cause."""

    def __init__(self, config: AriConfig, gateway_url: str, session: aiohttp.ClientSession,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, max_polls: int = 3600) -> None:
        self.config, self.gateway_url, self.session = config, gateway_url, session
        self._sleep, self._max_polls = sleep, max_polls
        self._auth = aiohttp.BasicAuth(config.username, config.password)

    async def call(self, request: CallRequest) -> CallResult:
        cfg = self.config
        try:
            await register_call(self.session, self.gateway_url, request)
        except (aiohttp.ClientError, RuntimeError) as exc:
            log.error("call %s: voice gateway unavailable: %s", request.call_id, exc)
            return CallResult("failed", "voice gateway unavailable")
        params = {
            "endpoint": cfg.endpoint.format(phone=request.phone), "extension": cfg.extension,
            "context": cfg.context, "priority": "1", "callerId": cfg.caller_id,
            "timeout": str(cfg.ring_timeout_s), "channelId": request.call_id,
        }
        body = {"variables": {"SURVEY_UUID": request.call_id, "SURVEY_TICKET": request.ticket_no}}
        try:
            async with self.session.post(f"{cfg.url}/ari/channels", params=params, json=body, auth=self._auth) as resp:
                if resp.status >= 300:
                    log.error("call %s: originate refused: HTTP %s", request.call_id, resp.status)
                    return CallResult("failed", f"originate HTTP {resp.status}")
            return await self._follow(request.call_id)
        except aiohttp.ClientError as exc:
            log.error("call %s: ARI unreachable: %s", request.call_id, exc)
            return CallResult("failed", "ARI unreachable")

    async def _follow(self, channel_id: str) -> CallResult:
        """Poll the channel: 'Up' once means answered; its disappearance ends the call."""
        answered, cause = False, None
        for _ in range(self._max_polls):
            async with self.session.get(f"{self.config.url}/ari/channels/{channel_id}", auth=self._auth) as resp:
                if resp.status == 404:
                    break
                data = await resp.json()
                answered = answered or data.get("state") == "Up"
                cause = (data.get("channelvars") or {}).get("HANGUPCAUSE") or cause
            await self._sleep(self.config.poll_interval_s)
        else:  # still up after the longest call: hang it up
            async with self.session.delete(f"{self.config.url}/ari/channels/{channel_id}", auth=self._auth):
                pass
        if answered:
            return CallResult("answered")
        return CallResult("busy" if str(cause) == "17" else "no_answer", f"hangup cause {cause}")


Survey = Callable[[CallRequest], Awaitable[str]]


class InstantDialer:
    """Answers every call at once by running `survey` (e.g. the survey repository directly); records calls."""

    def __init__(self, survey: Optional[Survey] = None, status: str = "answered") -> None:
        self._survey, self._status = survey, status
        self.calls: list[CallRequest] = []

    async def call(self, request: CallRequest) -> CallResult:
        self.calls.append(request)
        if self._survey is not None:
            await self._survey(request)
        return CallResult(self._status)

