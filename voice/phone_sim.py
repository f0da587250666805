"""A simulated Asterisk side of an AudioSocket call, for tests and bench/voice.py.

It connects, sends the UUID, then streams the caller's audio in real time (20 ms frames: speech or
key tones when given, silence otherwise, as a phone line does), sends DTMF frames on request, and
records the bot's audio frames with their arrival times and the hangup. The gateway keeps a line alive with
frames of digital silence while it listens (Asterisk hangs up after 2 s without a frame): those are on the line
(``line_frames``, ``bot_pcm``) but are not the bot speaking (``bot_frames``), as a caller hears it.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuidlib
from typing import Callable, Optional

from voice.audiosocket import Audio, AudioSocketError, CallId, Dtmf, Hangup, encode, frame_bytes, read_event


class SimulatedPhone:
    """One call into the gateway; use ``async with``."""

    def __init__(self, host: str, port: int, call_uuid: uuidlib.UUID | None = None, sample_rate: int = 8000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port, self.rate, self.clock = host, port, sample_rate, clock
        self.uuid = call_uuid or uuidlib.uuid4()
        self.bot_frames: list[tuple[float, int]] = []  # (arrival time, bytes) of the bot's speech
        self.line_frames = 0  # every audio frame, the gateway's keep-alive silence included
        self.bot_pcm = bytearray()
        self.hung_up = asyncio.Event()  # hangup frame or connection closed by the gateway
        self.hangup_frame = False
        self.connected_at = 0.0
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: Optional[asyncio.StreamWriter] = None
        self._frame = frame_bytes(sample_rate)
        self._markers: list[asyncio.Future[float]] = []  # resolved when say()'s audio has been sent

    async def __aenter__(self) -> "SimulatedPhone":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(encode(CallId(self.uuid)))
        self.connected_at = self.clock()
        self._tasks = [asyncio.create_task(self._receive(reader)), asyncio.create_task(self._stream())]

    async def say(self, pcm: bytes) -> float:
        """Stream `pcm` in real time (after what is queued); returns when its last frame was sent."""
        done = asyncio.get_running_loop().create_future()
        for offset in range(0, len(pcm), self._frame):
            chunk = pcm[offset:offset + self._frame]
            self._outgoing.put_nowait(chunk + bytes(self._frame - len(chunk)))
        self._outgoing.put_nowait(b"")  # marker: resolve `done`
        self._markers.append(done)
        return await done

    async def press(self, digit: str) -> None:
        """A DTMF frame (0x03), as Asterisk sends for an RFC 2833 key."""
        assert self._writer is not None
        self._writer.write(encode(Dtmf(digit)))
        await self._writer.drain()

    def bot_audio_since(self, since: float) -> Optional[float]:
        """Arrival time of the first bot audio frame at or after `since`."""
        return next((t for t, _ in self.bot_frames if t >= since), None)

    async def bot_spoke(self, since: float, quiet_s: float = 0.4, timeout: float = 30.0) -> float:
        """Wait until bot audio arrived after `since` and then paused for `quiet_s`; its first frame time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self.hung_up.is_set():
            first = self.bot_audio_since(since)
            if first is not None and self.clock() - self.bot_frames[-1][0] >= quiet_s:
                return first
            await asyncio.sleep(0.02)
        first = self.bot_audio_since(since)
        if first is None:
            raise TimeoutError("no bot audio")
        return first

    async def close(self, send_hangup: bool = False) -> None:
        """Drop the call (abruptly unless `send_hangup`)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, OSError):
                if send_hangup and not self._writer.is_closing():
                    self._writer.write(encode(Hangup()))
                    await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()

    async def _stream(self) -> None:
        """Real-time 20 ms frames: queued audio first, silence otherwise (drift-free schedule)."""
        assert self._writer is not None
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        silence = bytes(self._frame)
        with contextlib.suppress(ConnectionError, OSError):
            while not self._writer.is_closing():
                chunk = silence
                while not self._outgoing.empty():
                    item = self._outgoing.get_nowait()
                    if item:
                        chunk = item
                        break
                    marker = self._markers.pop(0)
                    if not marker.done():
                        marker.set_result(self.clock())
                self._writer.write(encode(Audio(chunk, self.rate)))
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                event = await read_event(reader)
                if event is None:
                    break
                if isinstance(event, Audio):
                    self.line_frames += 1
                    self.bot_pcm += event.pcm
                    if event.pcm.strip(b"\x00"):  # digital silence is the gateway keeping the line alive
                        self.bot_frames.append((self.clock(), len(event.pcm)))
                elif isinstance(event, Hangup):
                    self.hangup_frame = True
                    break
        except (AudioSocketError, ConnectionError, OSError):
            pass
        finally:
            self.hung_up.set()

