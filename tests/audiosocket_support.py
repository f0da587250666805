"""Helpers shared by the AudioSocket tests: test audio, a server factory fixture, connections."""
from __future__ import annotations

import asyncio
import audioop  # Python 3.10 stdlib: µ-law as Asterisk's c(ulaw) sends it
import contextlib
import struct
import uuid
from typing import AsyncIterator, Awaitable, Callable

import pytest

from voice.audiosocket import (Audio, AudioSocketError, AudioSocketServer, Call, CallId, Hangup, encode,
                               read_event)
LOGGER_NAME = "voice.audiosocket"
CALL_UUID = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")


def tone(seconds: float, sample_rate: int = 8000) -> bytes:
    """Deterministic non-silent PCM: a sawtooth, so frame order is checkable."""
    samples = int(seconds * sample_rate)
    return b"".join(struct.pack("<h", (i * 37) % 20000 - 10000) for i in range(samples))


def reader_for(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


ServerFactory = Callable[[Callable[[Call], Awaitable[None]]], Awaitable[AudioSocketServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[AudioSocketServer] = []

    async def factory(handler: Callable[[Call], Awaitable[None]], **kwargs: object) -> AudioSocketServer:
        server = AudioSocketServer(handler, **kwargs)  # type: ignore[arg-type]
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()
        assert server.open_calls == 0


async def connect(server: AudioSocketServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert server.port
    return await asyncio.open_connection("127.0.0.1", server.port)


async def wait_idle(server: AudioSocketServer, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while server.open_calls and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert server.open_calls == 0


def peer_of(writer: asyncio.StreamWriter) -> str:
    host, port = writer.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


class AsteriskLine:
    """The Asterisk side of an AudioSocket call, behaving as a real Asterisk does (issue 19).

    - The dialplan application (``AudioSocket()``) hangs up when no frame went either way for 2,000 ms
      (app_audiosocket.c, "Reached timeout after 2000 ms of no activity"); ``inactivity_s`` None turns
      this off (the channel driver has no such timeout).
    - Its hang-up is a bare socket close, without a hangup frame.
    - A caller in ``Wait()``, on hold or behind silence suppression sends no frames at all: audio goes
      out only through ``send()``.
    - ``codec="ulaw"`` is the channel driver's ``c(ulaw)``: µ-law bytes under kind 0x10 in 160-byte
      frames (``raw`` sends payloads as given, under kind 0x10).
    """

    def __init__(self, port: int, call_uuid: uuid.UUID | None = None, *, sample_rate: int = 8000,
                 codec: str = "slin", inactivity_s: float | None = 2.0) -> None:
        self.port, self.uuid, self.rate, self.codec = port, call_uuid or uuid.uuid4(), sample_rate, codec
        self.inactivity_s = inactivity_s
        self.frames: list[tuple[float, bytes]] = []  # gateway audio: (arrival time, pcm)
        self.hangup_frame = False
        self.timed_out = False  # this side hung up for inactivity
        self.closed = asyncio.Event()  # the call is over (either side)
        self.outcome_at_close: str | None = None  # what `on_close` returned, when given
        self.on_close: Callable[[], Awaitable[str]] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last = 0.0

    async def __aenter__(self) -> "AsteriskLine":
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer.write(encode(CallId(self.uuid)))
        await self._writer.drain()
        self.connected_at = self._last = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._receive(reader))]
        if self.inactivity_s is not None:
            self._tasks.append(asyncio.create_task(self._watchdog()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hangup()

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.connected_at

    async def send(self, pcm: bytes) -> None:
        """Caller audio (s16le at the line's rate) in real time, 20 ms frames, encoded as the line's codec."""
        assert self._writer is not None
        loop = asyncio.get_running_loop()
        step = self.rate // 50 * 2
        start = loop.time()
        for n, offset in enumerate(range(0, len(pcm), step)):
            if self.closed.is_set():
                return
            chunk = pcm[offset:offset + step].ljust(step, b"\0")
            if self.codec == "ulaw":
                frame = _frame(0x10, audioop.lin2ulaw(chunk, 2))
            elif self.codec == "raw":
                frame = _frame(0x10, chunk)
            else:
                frame = encode(Audio(chunk, self.rate))
            try:
                self._writer.write(frame)
                await self._writer.drain()
            except (ConnectionError, OSError):
                return
            self._last = loop.time()
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - loop.time()))

    async def hangup(self) -> None:
        """What Asterisk does when the caller hangs up: close the socket, no hangup frame."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close()

    def speech(self) -> list[tuple[float, bytes]]:
        """Gateway frames that are not digital silence (times from connect)."""
        return [(t - self.connected_at, pcm) for t, pcm in self.frames if any(pcm)]

    def silence(self) -> list[tuple[float, bytes]]:
        return [(t - self.connected_at, pcm) for t, pcm in self.frames if not any(pcm)]

    def longest_gap(self, since: float = 0.0) -> float:
        """The longest time (s) without a gateway frame after `since` (from connect) until now or the close."""
        times = [since] + [t - self.connected_at for t, _ in self.frames if t - self.connected_at >= since]
        return max(b - a for a, b in zip(times, times[1:] + [self.now()]))

    async def _close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
            if self.on_close is not None and self.outcome_at_close is None:
                self.outcome_at_close = await self.on_close()
        self.closed.set()

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed.is_set():
            idle = loop.time() - self._last
            if idle >= self.inactivity_s:
                self.timed_out = True
                await self._close()
                return
            await asyncio.sleep(min(0.05, self.inactivity_s - idle))

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                event = await read_event(reader)
                if event is None:
                    break
                self._last = loop.time()
                if isinstance(event, Audio):
                    self.frames.append((self._last, event.pcm))
                elif isinstance(event, Hangup):
                    self.hangup_frame = True
                    break
        except (AudioSocketError, ConnectionError, OSError):
            pass
        if self.on_close is not None and self.outcome_at_close is None:
            self.outcome_at_close = await self.on_close()  # Asterisk goes on in the dialplan at once
        self.closed.set()


def _frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload
