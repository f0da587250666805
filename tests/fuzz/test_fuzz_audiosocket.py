"""Property tests of the AudioSocket frame parser (voice/audiosocket.py): random and mutated byte
streams give typed frames, a clean end, or AudioSocketError; never another exception, never a hang;
every event survives encode/decode; the TCP server closes on any garbage and stays up."""
from __future__ import annotations

import asyncio
import uuid

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.audiosocket_support import CALL_UUID, reader_for
from voice.audiosocket import (AUDIO_KINDS, Audio, AudioSocketError, AudioSocketServer, CallId, Dtmf, Error,
                               Event, Hangup, encode, read_event)

EVENT_TYPES = (Hangup, CallId, Dtmf, Audio, Error)
EVENTS = st.one_of(
    st.just(Hangup()),
    st.uuids().map(CallId),
    st.sampled_from("0123456789*#ABCD").map(Dtmf),
    st.characters(min_codepoint=0x21, max_codepoint=0x7E).map(Dtmf),
    st.integers(0, 255).map(Error),
    st.tuples(st.binary(min_size=1, max_size=2000).map(lambda b: b + b"\x00" if len(b) % 2 else b),
              st.sampled_from(sorted(AUDIO_KINDS.values()))).map(lambda p: Audio(*p)),
)


async def _read_all(data: bytes, max_payload: int = 16384) -> tuple[list[Event], Exception | None]:
    """Events until EOF (None) or the first error; bounded: each read consumes at least one header."""
    reader, events = reader_for(data), []
    for _ in range(len(data) // 3 + 2):
        try:
            event = await asyncio.wait_for(read_event(reader, max_payload), 5)
        except AudioSocketError as exc:
            return events, exc
        if event is None:
            return events, None
        events.append(event)
    raise AssertionError("the parser did not reach the end of a finite stream")


def _check(events: list[Event], error: Exception | None, data: bytes) -> None:
    assert all(isinstance(e, EVENT_TYPES) for e in events)
    consumed = sum(len(encode(e)) for e in events)
    assert consumed <= len(data)
    if error is None:
        assert consumed == len(data)  # a clean end is only at a frame boundary
    else:
        assert str(error)  # a clear reason


@given(st.binary(max_size=4000), st.sampled_from([16, 320, 16384, 0xFFFF]))
@example(b"\x10\x01", 16384)
@example(b"\x03\x00\x01\x00", 16384)
@example(b"\xff\x00\x01\xff", 16384)
def test_random_bytes_give_frames_or_a_protocol_error(data: bytes, max_payload: int) -> None:
    events, error = asyncio.run(_read_all(data, max_payload))
    _check(events, error, data)
    assert all(len(encode(e)) - 3 <= max_payload for e in events)


@given(st.lists(EVENTS, max_size=12))
def test_round_trip_of_any_event_stream(events: list[Event]) -> None:
    data = b"".join(map(encode, events))
    assert asyncio.run(_read_all(data, 0xFFFF)) == (events, None)


@given(st.lists(EVENTS, min_size=1, max_size=8), st.data())
def test_mutated_streams(events: list[Event], data: st.DataObject) -> None:
    """Valid streams with bytes flipped, inserted, deleted or cut: a prefix of typed frames, then the end or an error."""
    raw = bytearray(b"".join(map(encode, events)))
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if how == "flip" and raw:
            raw[at] ^= data.draw(st.integers(1, 255))
        elif how == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif how == "delete" and raw:
            del raw[at:at + data.draw(st.integers(1, 8))]
        elif how == "cut":
            del raw[at:]
    found, error = asyncio.run(_read_all(bytes(raw), 0xFFFF))
    _check(found, error, bytes(raw))


@settings(max_examples=40)
@given(st.binary(max_size=600), st.booleans())
@example(b"GET / HTTP/1.1\r\n\r\n", True)
def test_server_closes_on_garbage_and_keeps_serving(garbage: bytes, after_uuid: bool) -> None:
    """Garbage (at the start or after the UUID) closes that connection; the next call is served."""
    async def scenario() -> None:
        calls: list[list[Event]] = []

        async def handler(call) -> None:
            got = []
            async for event in call.events():
                got.append(event)
            calls.append(got)

        server = AudioSocketServer(handler, handshake_timeout=0.5)
        port = await server.start("127.0.0.1", 0)
        try:
            for payload in ((encode(CallId(CALL_UUID)) if after_uuid else b"") + garbage,
                            encode(CallId(uuid.UUID(int=7))) + encode(Dtmf("5")) + encode(Hangup())):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(payload)
                await writer.drain()
                writer.write_eof()  # the caller's side is done sending; the call ends at EOF or at the garbage
                await asyncio.wait_for(reader.read(), 5)  # the server closes: no hang
                writer.close()
            deadline = asyncio.get_running_loop().time() + 5
            while server.open_calls and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            assert server.open_calls == 0
            assert calls[-1] == [CallId(uuid.UUID(int=7)), Dtmf("5"), Hangup()]  # still serving
        finally:
            await server.stop()

    asyncio.run(scenario())
