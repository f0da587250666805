"""AudioSocket playback paced in real time, and barge-in, over real sockets on 127.0.0.1."""
from __future__ import annotations

import asyncio

import pytest

from voice.audiosocket import (
    Audio,
    AudioPacer,
    AudioSocketError,
    Call,
    CallId,
    Event,
    Hangup,
    encode,
    frame_bytes,
    read_event,
)

from tests.audiosocket_support import (
    CALL_UUID, ServerFactory, connect, tone, wait_idle,
)

# --- pacing ----------------------------------------------------------------------

async def test_pacer_splits_into_20ms_frames() -> None:
    sent: list[Audio] = []

    async def send(event: Audio) -> None:
        sent.append(event)

    pacer = AudioPacer(send)
    assert await pacer.play(bytes(330), 8000)
    assert [len(a.pcm) for a in sent] == [320, 10]
    with pytest.raises(AudioSocketError):
        await pacer.play(bytes(3))


async def test_pacer_corrects_drift_from_a_slow_sender() -> None:
    loop = asyncio.get_running_loop()

    async def slow_send(event: Audio) -> None:
        await asyncio.sleep(0.008)  # without absolute deadlines 50 frames would take ~1.4 s

    started = loop.time()
    assert await AudioPacer(slow_send).play(tone(1.0))
    assert 0.95 <= loop.time() - started <= 1.1


async def test_pacer_stop_is_immediate_even_mid_frame() -> None:
    loop = asyncio.get_running_loop()
    sent: list[Audio] = []

    async def send(event: Audio) -> None:
        sent.append(event)

    pacer = AudioPacer(send, frame_ms=500)  # long frames: stop must not wait for the next one
    player = asyncio.create_task(pacer.play(tone(2.0)))
    await asyncio.sleep(0.1)
    assert not player.done()
    stopped = loop.time()
    pacer.stop()
    assert await player is False
    assert loop.time() - stopped < 0.01 and len(sent) == 1


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_one_second_of_audio_takes_one_second(rate: int, make_server: ServerFactory) -> None:
    loop = asyncio.get_running_loop()
    pcm = tone(1.0, rate)
    result: asyncio.Future[tuple[bool, float]] = loop.create_future()

    async def handler(call: Call) -> None:
        started = loop.time()
        finished = await call.send_audio(pcm, rate)
        result.set_result((finished, loop.time() - started))
        await call.hangup()

    server = await make_server(handler)
    reader, writer = await connect(server)
    writer.write(encode(CallId(CALL_UUID)))
    received: list[Event] = []
    arrivals: list[float] = []
    while (event := await asyncio.wait_for(read_event(reader), 3)) is not None:
        received.append(event)
        arrivals.append(loop.time())
    finished, elapsed = await result
    assert finished and 0.9 <= elapsed <= 1.3, elapsed
    audio = [e for e in received if isinstance(e, Audio)]
    assert len(audio) == 50 and {len(a.pcm) for a in audio} == {frame_bytes(rate)}
    assert {a.sample_rate for a in audio} == {rate}
    assert b"".join(a.pcm for a in audio) == pcm
    assert received[-1] == Hangup()
    assert arrivals[49] - arrivals[0] >= 0.9  # frames arrived in real time, not in a burst
    writer.close()
    await wait_idle(server)


@pytest.mark.parametrize("how", ["stop_audio", "cancel_task"])
async def test_barge_in_stops_playback_within_50ms(how: str, make_server: ServerFactory) -> None:
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[tuple[float, bool]] = loop.create_future()
    stopped_at: list[float] = []

    async def handler(call: Call) -> None:
        player = asyncio.create_task(call.send_audio(tone(5.0)))
        await asyncio.sleep(0.3)
        stopped_at.append(loop.time())
        if how == "stop_audio":
            call.stop_audio()
        else:
            player.cancel()
        try:
            played_all = await player
        except asyncio.CancelledError:
            played_all = False
        latency = loop.time() - stopped_at[0]
        again = await call.send_audio(tone(0.1))  # the call is still usable afterwards
        outcome.set_result((latency, again and not played_all))
        async for _ in call.events():
            pass

    server = await make_server(handler)
    reader, writer = await connect(server)
    writer.write(encode(CallId(CALL_UUID)))
    arrivals: list[float] = []
    while not outcome.done():
        try:
            event = await asyncio.wait_for(read_event(reader), 0.05)
        except asyncio.TimeoutError:
            continue
        assert isinstance(event, Audio)
        arrivals.append(loop.time())
    latency, ok = await outcome
    assert ok and latency < 0.05, latency
    before = [t for t in arrivals if t <= stopped_at[0] + 0.005]
    assert 12 <= len(before) <= 17  # ~0.3 s of 20 ms frames before the barge-in
    assert len(arrivals) - len(before) <= 6  # afterwards only the 0.1 s replay (5 frames)
    writer.write(encode(Hangup()))
    await writer.drain()
    writer.close()
    await wait_idle(server)
