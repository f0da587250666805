"""Helpers shared by the AudioSocket tests: test audio, a server factory fixture, connections."""
from __future__ import annotations

import asyncio
import struct
import uuid
from typing import AsyncIterator, Awaitable, Callable

import pytest

from voice.audiosocket import AudioSocketServer, Call
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
