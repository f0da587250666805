"""A simulated citizen for demos and tests: "answers" a survey call by connecting to the voice gateway over
AudioSocket — as Asterisk would after the callee picked up — and keys one DTMF digit per question.

It waits until the bot has spoken for a while (``min_prompt_frames`` audio frames since its last key) before
pressing the next key followed by ``#`` (which ends a DTMF entry at once), and stays on the line until the
gateway hangs up after the goodbye. ``hang_up_after`` keys, it hangs up itself (a call cut mid-survey).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Optional

import aiohttp

from callbacks.dialers import CallRequest, CallResult, register_call
from voice.audiosocket import Audio, CallId, Dtmf, Error, Hangup, encode, read_event

log = logging.getLogger(__name__)


@dataclass
class CalleeLog:
    """What the simulated callee heard and did (for tests and demos)."""

    audio_frames: int = 0
    keys: list[str] = field(default_factory=list)
    ended_by: str = ""


class SimulatedCalleeDialer:
    """A `Dialer` whose every call is picked up by the simulated callee."""

    def __init__(self, gateway_url: str, host: str, port: int, session: aiohttp.ClientSession, *, keys: str = "1111",
                 hang_up_after: Optional[int] = None, min_prompt_frames: int = 25, max_call_s: float = 300.0) -> None:
        self.gateway_url, self.host, self.port, self.session = gateway_url, host, port, session
        self.keys, self.hang_up_after = keys, hang_up_after
        self.min_prompt_frames, self.max_call_s = min_prompt_frames, max_call_s
        self.logs: list[CalleeLog] = []

    async def call(self, request: CallRequest) -> CallResult:
        try:
            await register_call(self.session, self.gateway_url, request)
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except (aiohttp.ClientError, RuntimeError, OSError) as exc:
            log.error("simulated call %s could not start: %s", request.call_id, exc)
            return CallResult("failed", "voice gateway unavailable")
        record = CalleeLog()
        self.logs.append(record)
        try:
            # as Asterisk: the UUID first, then audio (one silent 8 kHz frame tells the gateway the rate)
            writer.write(encode(CallId(uuid.UUID(request.call_id))) + encode(Audio(bytes(320), 8000)))
            await writer.drain()
            await asyncio.wait_for(self._converse(reader, writer, record), self.max_call_s)
        except asyncio.TimeoutError:
            record.ended_by = "timeout"
        except (ConnectionError, OSError):
            record.ended_by = record.ended_by or "connection lost"
        finally:
            if not writer.is_closing():
                if record.ended_by in ("callee", "timeout"):
                    writer.write(encode(Hangup()))
                writer.close()
        return CallResult("answered", f"ended by {record.ended_by}")

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: CalleeLog) -> None:
        pending = list(self.keys)
        heard = 0
        while True:
            event = await read_event(reader)
            if event is None or isinstance(event, (Hangup, Error)):
                record.ended_by = "gateway"
                return
            if not isinstance(event, Audio):
                continue
            record.audio_frames += 1
            heard += 1
            if heard < self.min_prompt_frames:
                continue
            if self.hang_up_after is not None and len(record.keys) >= self.hang_up_after:
                record.ended_by = "callee"
                return
            if pending:
                key = pending.pop(0)
                record.keys.append(key)
                writer.write(encode(Dtmf(key)) + encode(Dtmf("#")))
                await writer.drain()
                heard = 0
