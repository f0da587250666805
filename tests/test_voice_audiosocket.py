"""AudioSocket codec and TCP server, exercised over real sockets on 127.0.0.1 (pacing: test_voice_pacing.py)."""
from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from voice.audiosocket import (
    AUDIO_KINDS,
    Audio,
    AudioSocketError,
    Call,
    CallId,
    Dtmf,
    Error,
    Event,
    Hangup,
    encode,
    frame_bytes,
    read_event,
)

from tests.audiosocket_support import (
    CALL_UUID, LOGGER_NAME, ServerFactory, connect, peer_of, reader_for, tone, wait_idle,
)

# --- codec -------------------------------------------------------------------

ROUND_TRIP = (
    [Hangup(), CallId(CALL_UUID), Error(0x01), Error(0x04), Error(0)]
    + [Dtmf(d) for d in "0123456789*#ABCD"]
    + [Audio(tone(0.02, rate), rate) for rate in AUDIO_KINDS.values()]
)


@pytest.mark.parametrize("event", ROUND_TRIP, ids=repr)
async def test_round_trip_every_kind(event: Event) -> None:
    reader = reader_for(encode(event))
    assert await read_event(reader) == event
    assert await read_event(reader) is None


def test_wire_format_matches_the_spec() -> None:
    assert encode(Hangup()) == b"\x00\x00\x00"
    assert encode(CallId(CALL_UUID)) == b"\x01\x00\x10" + CALL_UUID.bytes
    assert encode(Dtmf("#")) == b"\x03\x00\x01#"
    assert encode(Error(0x02)) == b"\xff\x00\x01\x02"
    frame = encode(Audio(tone(0.02)))
    assert frame[:3] == b"\x10\x01\x40" and len(frame) == 3 + 320
    kinds = {rate: encode(Audio(b"\x00\x00", rate))[0] for rate in AUDIO_KINDS.values()}
    assert kinds == {8000: 0x10, 12000: 0x11, 16000: 0x12, 24000: 0x13, 32000: 0x14,
                     44100: 0x15, 48000: 0x16, 96000: 0x17, 192000: 0x18}
    assert [frame_bytes(r) for r in (8000, 16000, 44100)] == [320, 640, 1764]


async def test_stream_of_frames_and_empty_error_payload() -> None:
    events = [CallId(CALL_UUID), Audio(tone(0.02)), Dtmf("7"), Hangup()]
    reader = reader_for(b"".join(map(encode, events)) + b"\xff\x00\x00")
    assert [await read_event(reader) for _ in range(5)] == events + [Error(0)]
    assert await read_event(reader) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x02\x00\x00", "unknown frame kind 0x02"),
        (b"GET / HTTP/1.1\r\n", "unknown frame kind 0x47"),
        (b"\x01\x00\x0f" + bytes(15), "UUID frame of 15 bytes"),
        (b"\x03\x00\x02" + b"12", "DTMF frame of 2 bytes"),
        (b"\x03\x00\x01\x07", "DTMF digit"),
        (b"\x10\x00\x03abc", "audio frame of 3 bytes"),
        (b"\x10\x00\x00", "audio frame of 0 bytes"),
        (b"\x00\x00\x01x", "hangup frame of 1 bytes"),
        (b"\xff\x00\x02\x01\x02", "error frame of 2 bytes"),
        (b"\x10\xff\xfe", "exceeds the limit"),
        (b"\x10\x01", "truncated header"),
        (b"\x10\x01\x40" + bytes(100), "EOF after 100 of 320 payload bytes"),
    ],
)
async def test_read_event_rejects_bad_input(data: bytes, message: str) -> None:
    with pytest.raises(AudioSocketError, match=message):
        await read_event(reader_for(data))


def test_invalid_events_cannot_be_built_or_encoded() -> None:
    with pytest.raises(AudioSocketError):
        Audio(b"\x00\x00\x00")
    with pytest.raises(AudioSocketError):
        Audio(b"\x00\x00", 22050)
    with pytest.raises(AudioSocketError):
        Dtmf("12")
    with pytest.raises(AudioSocketError):
        Error(256)
    with pytest.raises(AudioSocketError):
        encode(Audio(bytes(70000)))
    with pytest.raises(AudioSocketError):
        encode(object())  # type: ignore[arg-type]


# --- server --------------------------------------------------------------------

async def test_handler_sees_events_in_order(make_server: ServerFactory) -> None:
    seen: asyncio.Future[tuple[uuid.UUID, list[Event]]] = asyncio.get_running_loop().create_future()

    async def handler(call: Call) -> None:
        seen.set_result((call.call_id, [event async for event in call.events()]))

    server = await make_server(handler)
    reader, writer = await connect(server)
    frames = [Audio(tone(0.02)[i:] + tone(0.02)[:i]) for i in (0, 2, 4)]
    sent = [CallId(CALL_UUID), *frames, Dtmf("5"), Hangup()]
    for event in sent:
        writer.write(encode(event))
        await writer.drain()
    call_id, events = await asyncio.wait_for(seen, 2)
    assert call_id == CALL_UUID
    assert events == sent
    assert await asyncio.wait_for(reader.read(), 2) == b""  # server closed the call
    writer.close()
    await wait_idle(server)


MALFORMED = {
    "unknown_type": encode(CallId(CALL_UUID)) + b"\x02\x00\x00",
    "uuid_15_bytes": b"\x01\x00\x0f" + bytes(15),
    "oversize_length": encode(CallId(CALL_UUID)) + b"\x10\xff\xff",
    "truncated_then_disconnect": encode(CallId(CALL_UUID)) + b"\x10\x01\x40" + bytes(100),
    "garbage": b"\x8a\x17garbage\x00\xfe" * 8,
    "audio_before_uuid": encode(Audio(tone(0.02))),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_input_is_closed_and_server_keeps_serving(
    case: str, make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    calls: list[list[Event]] = []

    async def handler(call: Call) -> None:
        calls.append([event async for event in call.events()])

    server = await make_server(handler)
    reader, writer = await connect(server)
    peer = peer_of(writer)
    writer.write(MALFORMED[case])
    await writer.drain()
    if case == "truncated_then_disconnect":
        writer.close()
    else:
        assert await asyncio.wait_for(reader.read(), 2) == b""  # closed by the server, promptly
        writer.close()
    await wait_idle(server)

    warnings = [r for r in caplog.records if r.name == LOGGER_NAME and r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert peer in warnings[0].getMessage() and "malformed" in warnings[0].getMessage()

    # The next, well-formed call is served normally.
    reader, writer = await connect(server)
    good = [CallId(uuid.uuid4()), Audio(tone(0.02)), Hangup()]
    writer.write(b"".join(map(encode, good)))
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await wait_idle(server)
    assert calls[-1] == good


async def test_silent_connection_is_dropped_after_handshake_timeout(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    async def handler(call: Call) -> None:
        raise AssertionError("no call without a UUID")

    server = await make_server(handler, handshake_timeout=0.2)
    reader, writer = await connect(server)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    await wait_idle(server)
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert len(messages) == 1 and "no UUID frame within 0.2 s" in messages[0] and peer_of(writer) in messages[0]


async def test_handler_exception_is_logged_and_contained(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    ids: list[uuid.UUID] = []

    async def handler(call: Call) -> None:
        ids.append(call.call_id)
        if len(ids) == 1:
            raise RuntimeError("handler bug")
        async for _ in call.events():
            pass

    server = await make_server(handler)
    for _ in range(2):
        reader, writer = await connect(server)
        writer.write(encode(CallId(uuid.uuid4())) + encode(Hangup()))
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
        await wait_idle(server)
    assert len(ids) == 2
    errors = [r for r in caplog.records if r.name == LOGGER_NAME and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "handler failed" in errors[0].getMessage()


async def test_abrupt_disconnects_leave_nothing_open(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    handled = 0

    async def handler(call: Call) -> None:
        nonlocal handled
        player = asyncio.create_task(call.send_audio(tone(2.0)))  # writes to soon-dead sockets
        async for _ in call.events():
            pass
        call.stop_audio()
        await player
        handled += 1

    server = await make_server(handler)
    hello = encode(CallId(CALL_UUID))
    frame = encode(Audio(tone(0.02)))

    async def client(i: int) -> None:
        reader, writer = await connect(server)
        variant = i % 5
        payload = [b"", hello, hello + frame[:150], hello[:2], hello + frame * 3][variant]
        writer.write(payload)
        await writer.drain()
        await asyncio.sleep(0.01 * (i % 3))
        if variant == 4:
            writer.close()  # orderly close without a hangup frame
        else:
            writer.transport.abort()  # RST, some mid-frame

    try:
        for batch in range(4):
            await asyncio.gather(*(client(batch * 50 + i) for i in range(50)))
        await wait_idle(server)
    finally:
        loop.set_exception_handler(previous)
    assert errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert handled >= 80  # variants 1, 2 (mostly) and 4 reached the handler
    # Still serving: a normal call is handled and ended by the server.
    before = handled
    reader, writer = await connect(server)
    writer.write(hello + encode(Hangup()))
    await asyncio.wait_for(reader.read(), 3)  # returns at EOF
    writer.close()
    await wait_idle(server)
    assert handled == before + 1
