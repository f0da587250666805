"""Outbound calls. A `Dialer` places one call and returns once it is over.

- `AriDialer`: Asterisk ARI: registers the survey context with the voice gateway, opens ARI's event
  WebSocket (``/ari/events``), originates the call into a dialplan context that runs
  ``AudioSocket(${SURVEY_UUID},gateway:port)``, then follows the channel's events until
  ``ChannelDestroyed``, whose hangup cause says busy, no answer, congestion or rejected (issue 19: a busy
  callee's channel is gone before a first poll could see it). Without the WebSocket it polls the channel.
- `InstantDialer`: in-process, answers at once with a prepared survey (benchmarks and worker tests).
The simulated callee that really talks to the voice gateway is in callbacks/callee.py.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Protocol
from urllib.parse import quote

import aiohttp

from ground.settings import VOICE_CONTROL_TOKEN_HEADER

log = logging.getLogger(__name__)
CALL_STATUSES = ("answered", "no_answer", "busy", "failed")
# Q.850 hangup causes of a call that was never answered -> (status for the retry policy, what it was).
# A rejected call (the callee declined it) is tried again like a busy one (CALLBACK_BUSY_MINUTES);
# congestion (network or trunk full) like a failed one (CALLBACK_RETRY_MINUTES).
UNANSWERED_CAUSES: dict[int, tuple[str, str]] = {
    17: ("busy", "busy"), 21: ("busy", "rejected"),
    18: ("no_answer", "no answer"), 19: ("no_answer", "no answer"),
    34: ("failed", "congestion"), 38: ("failed", "congestion"), 41: ("failed", "congestion"),
    42: ("failed", "congestion"), 1: ("failed", "unallocated number"), 28: ("failed", "invalid number"),
}
# The Dial event's status for the originated channel (its "peer"), for when the hangup cause says nothing:
# a real Asterisk 23 destroys an originated Local channel whose callee was busy with cause 0.
DIAL_STATUSES: dict[str, tuple[str, str]] = {
    "BUSY": ("busy", "busy"), "NOANSWER": ("no_answer", "no answer"), "CONGESTION": ("failed", "congestion"),
    "CHANUNAVAIL": ("failed", "channel unavailable"),
}


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


async def register_call(session: aiohttp.ClientSession, gateway_url: str, request: CallRequest,
                        token: str = "") -> None:
    """Tell the voice gateway which survey the call with this UUID runs (``POST /calls/{uuid}``), with the control
    API's secret `token` (VOICE_CONTROL_TOKEN) in its header; the call id is quoted as one path segment."""
    async with session.post(f"{gateway_url.rstrip('/')}/calls/{quote(request.call_id, safe='')}",
                            headers={VOICE_CONTROL_TOKEN_HEADER: token},
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
    poll_interval_s: float = 1.0  # only when ARI's event WebSocket cannot be opened
    app: str = "seat-dialer"              # ARI application of the event WebSocket (+ the call's id: one per call)
    max_call_s: float = 3600.0            # a channel still there after this long is hung up


def unanswered_result(cause: Any, dial_status: str = "") -> CallResult:
    """The outcome of a call that was never answered: its hangup cause, else the Dial status, else no answer."""
    try:
        known = UNANSWERED_CAUSES.get(int(cause))
    except (TypeError, ValueError):  # no cause known (e.g. a poll that found the channel gone)
        known = None
    status, what = known or DIAL_STATUSES.get(dial_status, ("no_answer", "not answered"))
    return CallResult(status, f"{what} (hangup cause {cause}" + (f", dial status {dial_status})" if dial_status else ")"))


class AriDialer:
    """Asterisk ARI originate, followed on ARI's events. Busy/no-answer/... come from the hangup cause."""

    def __init__(self, config: AriConfig, gateway_url: str, session: aiohttp.ClientSession,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, max_polls: int = 3600,
                 gateway_token: str = "") -> None:
        self.config, self.gateway_url, self.session = config, gateway_url, session
        self.gateway_token = gateway_token  # VOICE_CONTROL_TOKEN
        self._sleep, self._max_polls = sleep, max_polls
        self._auth = aiohttp.BasicAuth(config.username, config.password)

    async def call(self, request: CallRequest) -> CallResult:
        cfg = self.config
        try:
            await register_call(self.session, self.gateway_url, request, self.gateway_token)
        except (aiohttp.ClientError, RuntimeError) as exc:
            log.error("call %s: voice gateway unavailable: %s", request.call_id, exc)
            return CallResult("failed", "voice gateway unavailable")
        params = {
            "endpoint": cfg.endpoint.format(phone=request.phone), "extension": cfg.extension,
            "context": cfg.context, "priority": "1", "callerId": cfg.caller_id,
            "timeout": str(cfg.ring_timeout_s), "channelId": request.call_id,
        }
        body = {"variables": {"SURVEY_UUID": request.call_id, "SURVEY_TICKET": request.ticket_no}}
        events = await self._events(request.call_id)  # before the originate: no event can be missed
        try:
            async with self.session.post(f"{cfg.url}/ari/channels", params=params, json=body, auth=self._auth) as resp:
                if resp.status >= 300:
                    log.error("call %s: originate refused: HTTP %s", request.call_id, resp.status)
                    return CallResult("failed", f"originate HTTP {resp.status}")
            if events is not None:
                return await self._on_events(request.call_id, events)
            return await self._follow(request.call_id)
        except aiohttp.ClientError as exc:
            log.error("call %s: ARI unreachable: %s", request.call_id, exc)
            return CallResult("failed", "ARI unreachable")
        finally:
            if events is not None:
                await events.close()

    async def _events(self, call_id: str) -> Optional[aiohttp.ClientWebSocketResponse]:
        """ARI's event WebSocket for all channels (subscribeAll), or None (then the channel is polled)."""
        url = "ws" + self.config.url[len("http"):] if self.config.url.startswith("http") else self.config.url
        try:
            # timeout: the close handshake; Asterisk does not always answer it, and the call is over by then
            connect = self.session.ws_connect(f"{url}/ari/events", auth=self._auth, heartbeat=30, timeout=2.0,
                                              params={"app": f"{self.config.app}-{call_id}", "subscribeAll": "true"})
            return await asyncio.wait_for(connect, 10.0)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("call %s: ARI events unavailable (%s): polling the channel; a busy callee may be "
                        "recorded as no answer", call_id, exc)
            return None

    async def _on_events(self, channel_id: str, ws: aiohttp.ClientWebSocketResponse) -> CallResult:
        """The channel's events until ChannelDestroyed: 'Up' once means answered, else its hangup cause or the
        status of the Dial that rang it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.max_call_s
        answered, dial_status = False, ""
        while True:
            try:
                msg = await asyncio.wait_for(ws.receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                log.warning("call %s: still up after %g s: hanging up", channel_id, self.config.max_call_s)
                async with self.session.delete(f"{self.config.url}/ari/channels/{quote(channel_id, safe='')}", auth=self._auth):
                    pass
                return CallResult("answered" if answered else "no_answer", "hung up: call too long")
            if msg.type != aiohttp.WSMsgType.TEXT:  # the WebSocket is gone: go on by polling
                log.warning("call %s: ARI event WebSocket closed (%s): polling the channel", channel_id, msg.type)
                result = await self._follow(channel_id)
                return CallResult("answered") if answered else result
            try:
                event = msg.json()
            except ValueError:
                log.warning("call %s: ARI sent an event that is not JSON; ignored", channel_id)
                continue
            if event.get("type") == "Dial" and (event.get("peer") or {}).get("id") == channel_id:
                dial_status = event.get("dialstatus") or dial_status
                continue
            channel = event.get("channel") or {}
            if not isinstance(channel, dict) or channel.get("id") != channel_id:
                continue
            answered = answered or channel.get("state") == "Up"
            if event.get("type") == "ChannelDestroyed":
                if answered:
                    return CallResult("answered")
                result = unanswered_result(event.get("cause"), dial_status)
                log.info("call %s: %s", channel_id, result.detail)
                return result

    async def _follow(self, channel_id: str) -> CallResult:
        """Without events: poll the channel; 'Up' once means answered; its disappearance ends the call."""
        answered, cause = False, None
        for _ in range(self._max_polls):
            async with self.session.get(f"{self.config.url}/ari/channels/{quote(channel_id, safe='')}", auth=self._auth) as resp:
                if resp.status == 404:
                    break
                data = await resp.json()
                answered = answered or data.get("state") == "Up"
                cause = (data.get("channelvars") or {}).get("HANGUPCAUSE") or cause
            await self._sleep(self.config.poll_interval_s)
        else:  # still up after the longest call: hang it up
            async with self.session.delete(f"{self.config.url}/ari/channels/{quote(channel_id, safe='')}", auth=self._auth):
                pass
        if answered:
            return CallResult("answered")
        return unanswered_result(cause)


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

