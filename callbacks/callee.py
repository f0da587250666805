"""A simulated citizen for demos and tests: "answers" a survey call by connecting to the voice gateway over
AudioSocket — as Asterisk would once the callee picked up — with voice/phone_sim.py's `SimulatedPhone`
(UUID, then a real-time 20 ms line of silence), and keys one DTMF digit per question.

It listens until the bot has finished a prompt (a pause in its audio), presses the next key followed by ``#``
(which ends a DTMF entry at once), and stays on the line until the gateway hangs up after the goodbye.
After ``hang_up_after`` keys it hangs up itself once the next prompt is heard (a call cut mid-survey).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import aiohttp

from callbacks.dialers import CallRequest, CallResult, register_call
from voice.phone_sim import SimulatedPhone

log = logging.getLogger(__name__)

MAX_LOGS = 1000  # call logs kept (the newest): a demo seat on the simulated callee runs for days


@dataclass
class CalleeLog:
    """What the simulated callee heard and did (for tests and demos)."""

    audio_frames: int = 0
    keys: list[str] = field(default_factory=list)
    ended_by: str = ""


class SimulatedCalleeDialer:
    """A `Dialer` whose every call is picked up by the simulated callee."""

    def __init__(self, gateway_url: str, host: str, port: int, session: aiohttp.ClientSession, *, keys: str = "1111",
                 hang_up_after: Optional[int] = None, quiet_s: float = 0.4, max_call_s: float = 300.0,
                 gateway_token: str = "") -> None:
        self.gateway_url, self.host, self.port, self.session = gateway_url, host, port, session
        self.gateway_token = gateway_token  # VOICE_CONTROL_TOKEN
        self.keys, self.hang_up_after, self.quiet_s, self.max_call_s = keys, hang_up_after, quiet_s, max_call_s
        self.logs: "deque[CalleeLog]" = deque(maxlen=MAX_LOGS)  # oldest first; bounded (issue 15: memory)

    async def call(self, request: CallRequest) -> CallResult:
        try:
            await register_call(self.session, self.gateway_url, request, self.gateway_token)
        except (aiohttp.ClientError, RuntimeError) as exc:
            log.error("simulated call %s could not start: %s", request.call_id, exc)
            return CallResult("failed", "voice gateway unavailable")
        record = CalleeLog()
        self.logs.append(record)
        phone = SimulatedPhone(self.host, self.port, uuid.UUID(request.call_id))
        try:
            await phone.connect()
        except OSError as exc:
            log.error("simulated call %s could not connect: %s", request.call_id, exc)
            return CallResult("failed", "AudioSocket unreachable")
        try:
            await asyncio.wait_for(self._converse(phone, record), self.max_call_s)
        except asyncio.TimeoutError:
            record.ended_by = "timeout"
        except TimeoutError:  # the bot stopped talking
            record.ended_by = record.ended_by or "silence"
        finally:
            record.audio_frames = len(phone.bot_frames)
            await phone.close(send_hangup=record.ended_by in ("callee", "timeout", "silence"))
        return CallResult("answered", f"ended by {record.ended_by}")

    async def _converse(self, phone: SimulatedPhone, record: CalleeLog) -> None:
        since = phone.connected_at
        for key in self.keys:
            if self.hang_up_after is not None and len(record.keys) >= self.hang_up_after:
                break
            await phone.bot_spoke(since, quiet_s=self.quiet_s, timeout=60)
            if phone.hung_up.is_set():
                record.ended_by = "gateway"
                return
            since = phone.clock()
            await phone.press(key)
            await phone.press("#")
            record.keys.append(key)
        if self.hang_up_after is not None:
            await phone.bot_spoke(since, quiet_s=self.quiet_s, timeout=60)
            record.ended_by = "callee"
            return
        await phone.hung_up.wait()
        record.ended_by = "gateway"
