"""The transport-agnostic call session: greeting, DTMF entries, silence re-prompts, barge-in, end of call.

The dialogue (Rasa) and speech synthesis are stand-ins here (they are tested against the real stack in
tests/e2e/test_voice_call.py and in test_voice_tts.py); timers run on an injected clock.
"""
from __future__ import annotations

import struct

import pytest

from voice import prompts
from voice.events import (BotAudio, BotText, Handoff, SessionEnded, SessionStarted, StopPlayback)
from ground.rasa_client import Reply, parse_reply
from voice.session import CallSession, SessionConfig
from tests.voice_session_support import Clock, Recorder, RecordingDialogue, silent_tts, until

CONFIG = SessionConfig(rasa_url="http://127.0.0.1:9", tick_interval_s=0)


def make(dialogue=None, clock=None, **kwargs):
    events, clock, dialogue = Recorder(), clock or Clock(), dialogue or RecordingDialogue()
    config = kwargs.pop("config", CONFIG)
    session = CallSession("call-1", config, events, caller="13912345678", clock=clock, rasa=dialogue,
                          tts=silent_tts, **kwargs)
    return session, events, clock, dialogue


def loud(seconds: float, rate: int = 8000) -> bytes:
    """A 440 Hz tone well above the endpointer's threshold."""
    import math

    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                    for i in range(int(seconds * rate)))


async def test_start_greets_with_text_then_audio_and_sends_metadata():
    session, events, _, dialogue = make(extra_metadata={"survey_id": 7})
    await session.start()
    assert isinstance(events.events[0], SessionStarted) and events.events[0].call_id == "call-1"
    assert [type(e) for e in events.events[1:]] == [BotText, BotAudio]
    audio = events.events[2]
    assert audio.text == "收到：/greet" and audio.sample_rate == 8000 and len(audio.pcm) > 0
    sender, text, metadata = dialogue.received[0]
    assert (sender, text) == ("call-1", "/greet")
    assert metadata == {"channel": "voice", "call_id": "call-1", "caller": "13912345678", "survey_id": 7,
                        "input": "start"}
    await session.close()


async def test_keyed_phone_number_goes_at_once_with_dtmf_input():
    session, events, clock, dialogue = make()
    await session.start()
    for key in "13912345678":
        await session.feed_dtmf(key)
    await until(lambda: len(dialogue.received) == 2)
    _, text, metadata = dialogue.received[1]
    assert text == "13912345678" and metadata["input"] == "dtmf"
    await session.close()


async def test_single_menu_key_goes_after_the_inter_digit_timeout_and_hash_ends_an_entry():
    session, _, clock, dialogue = make()
    await session.start()
    await session.feed_dtmf("1")
    clock.advance(2.9)
    await session.tick()
    assert dialogue.texts == ["/greet"]  # still waiting for more keys
    clock.advance(0.2)
    await session.tick()
    await until(lambda: dialogue.texts[-1] == "1")
    for key in "66*12#":  # * clears the entry
        await session.feed_dtmf(key)
    await until(lambda: dialogue.texts[-1] == "12")
    await session.close()


async def test_silence_reprompts_three_times_then_says_goodbye_and_ends():
    session, events, clock, dialogue = make()
    await session.start()
    session.playback_finished()
    clock.advance(7.9)
    await session.tick()
    assert not any(e.text.startswith(prompts.STILL_THERE) for e in events.of(BotText))
    for n in range(1, 4):
        clock.advance(8.1)
        await session.tick()
        await until(lambda: len(events.of(BotAudio)) == 1 + 2 * n)
        texts = [e.text for e in events.of(BotText)]
        assert texts[-2:] == [prompts.STILL_THERE, "收到：/greet"]  # and the last question again
        session.playback_finished()
        session.playback_finished()
    clock.advance(8.1)
    await session.tick()
    await until(lambda: events.of(BotText)[-1].text == prompts.SILENCE_GOODBYE)
    assert not events.of(SessionEnded)  # the goodbye plays out first
    session.playback_finished()
    await until(lambda: bool(events.of(SessionEnded)))
    assert events.of(SessionEnded)[0].reason == "silence" and session.ended == "silence"
    assert dialogue.texts == ["/greet"]  # re-prompts are the seat's own, not dialogue turns


async def test_an_answer_resets_the_silence_count():
    session, events, clock, dialogue = make()
    await session.start()
    session.playback_finished()
    clock.advance(8.1)
    await session.tick()
    await until(lambda: len(events.of(BotAudio)) == 3)
    assert session._silence.reprompts == 1
    await session.send_text("我要投诉")
    assert session._silence.reprompts == 0
    await session.close()


async def test_caller_speech_during_playback_stops_it():
    session, events, _, _ = make()
    await session.start()
    await session.feed_audio(bytes(1600))  # silence: no barge-in
    assert not events.of(StopPlayback)
    for _ in range(5):  # 100 ms of loud audio in 20 ms frames
        await session.feed_audio(loud(0.02))
    assert len(events.of(StopPlayback)) == 1
    await session.feed_audio(loud(0.2))
    assert len(events.of(StopPlayback)) == 1  # nothing is playing any more
    await session.close()


async def test_handoff_marker_ends_the_session_after_the_announcement():
    reply = parse_reply([{"recipient_id": "call-1", "text": "好的，正在为您转接人工客服。"},
                         {"recipient_id": "call-1", "custom": {"end_call": "handoff", "reason": "citizen asked"}}])
    session, events, _, _ = make(RecordingDialogue(lambda text: reply if text == "转人工" else Reply(["您好"])))
    await session.start()
    session.playback_finished()
    await session.send_text("转人工")
    assert events.of(Handoff) == [Handoff("citizen asked")]
    assert not events.of(SessionEnded)
    await session.feed_dtmf("5")  # input during the announcement is ignored
    session.playback_finished()
    await until(lambda: bool(events.of(SessionEnded)))
    assert events.of(SessionEnded)[0].reason == "handoff"


async def test_goodbye_marker_hangs_up_and_dialogue_failure_hands_over():
    bye = parse_reply([{"text": "感谢您的来电，再见。"}, {"custom": {"end_call": "goodbye"}}])
    session, events, _, _ = make(RecordingDialogue(lambda text: bye))
    await session.start()
    session.playback_finished()
    await until(lambda: bool(events.of(SessionEnded)))
    assert events.of(SessionEnded)[0].reason == "bot_hangup"

    session, events, _, dialogue = make(RecordingDialogue(fail=True))
    await session.start()
    assert [e.text for e in events.of(BotText)] == [prompts.DIALOGUE_DOWN]
    assert events.of(Handoff) == [Handoff("dialogue unavailable")]
    session.playback_finished()
    await until(lambda: bool(events.of(SessionEnded)))
    assert events.of(SessionEnded)[0].reason == "handoff"


async def test_close_is_idempotent_and_emits_one_end():
    session, events, _, _ = make()
    await session.start()
    await session.close()
    await session.close("error")
    assert [e.reason for e in events.of(SessionEnded)] == ["caller_hangup"]
    await session.feed_audio(loud(0.1))
    await session.feed_dtmf("1")
    await session.send_text("还在吗")
    assert len(events.of(BotText)) == 1


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_in_band_key_tones_made_by_sox_are_entries(tmp_path, rate):
    from tests.voice_session_support import sox_dtmf

    session, events, clock, dialogue = make(config=SessionConfig(rasa_url="x", sample_rate=rate, tick_interval_s=0))
    await session.start()
    pcm = sox_dtmf(tmp_path, "13912345678", rate)
    step = rate // 50 * 2
    for i in range(0, len(pcm), step):
        await session.feed_audio(pcm[i:i + step])
    await until(lambda: len(dialogue.received) == 2)
    assert dialogue.received[1][1:] == ("13912345678", {**dialogue.received[1][2], "input": "dtmf"})
    assert dialogue.received[1][2]["input"] == "dtmf"
    await session.close()


async def test_real_speech_is_recognised_endpointed_and_sent_and_silence_is_not_decoded(ko_model, tmp_path):
    import re

    from voice import asr
    from voice.events import FinalTranscript, PartialTranscript
    from tests.voice_session_support import espeak, speech_end_s

    baseline = asr.live_recognizers()
    session, events, _, dialogue = make(model=ko_model)
    await session.start()
    assert asr.live_recognizers() == baseline + 1
    for _ in range(100):  # 2 s of line silence: the energy gate keeps it from the decoder
        await session.feed_audio(bytes(320))
    assert session.asr_stats()["audio_s"] == 0.0
    words = espeak(tmp_path, "안녕하세요 만나서 반갑습니다", "ko")
    speech = words + bytes(16000 * 3)
    for i in range(0, len(speech), 320):
        await session.feed_audio(speech[i:i + 320])
    await until(lambda: len(dialogue.received) == 2)
    finals = events.of(FinalTranscript)
    assert len(finals) == 1 and re.search(r"[\uac00-\ud7a3]", finals[0].text)
    assert events.of(PartialTranscript), "partial results while speaking"
    _, text, metadata = dialogue.received[1]
    assert text == finals[0].text and metadata["input"] == "speech"
    # decoded: the pre-roll (0.3 s), the words, the silence up to the end of the turn (<= 0.9 s); not the
    # rest of the gate's hangover nor the 3 s of silence after it
    assert 0 < session.asr_stats()["audio_s"] <= 0.3 + speech_end_s(words, 8000, frame_ms=10) + 0.9
    await session.close()
    assert asr.live_recognizers() == baseline


def test_energy_gate_passes_loud_audio_with_its_pre_roll_and_closes_after_the_hangover():
    from voice.gate import EnergyGate

    gate = EnergyGate(8000, hangover_ms=100, preroll_ms=40)
    quiet, loud_frame = bytes(320), b"\x10\x27" * 160  # 20 ms each
    assert [gate.feed(quiet, False) for _ in range(5)] == [b""] * 5 and not gate.closing()
    assert gate.feed(loud_frame, True) == quiet * 2 + loud_frame  # 40 ms of pre-roll, then the onset
    for _ in range(4):
        assert gate.feed(quiet, False) == quiet and not gate.closing()
    assert gate.feed(quiet, False) == quiet and gate.closing()  # 100 ms after the last loud frame
    assert not gate.closing() and gate.feed(quiet, False) == b""


def test_energy_gate_shut_at_an_utterance_end_keeps_the_undecoded_tail_as_pre_roll():
    from voice.gate import EnergyGate

    gate = EnergyGate(8000, hangover_ms=1000, preroll_ms=40)
    quiet, loud_frame, tail = bytes(320), b"\x10\x27" * 160, b"\x01\x00" * 80
    gate.feed(loud_frame, True)
    gate.shut(tail)
    assert not gate.open and not gate.closing()  # no second "utterance over" after the shut
    assert gate.feed(quiet, False) == b""  # the rest of the hangover is not decoded
    assert gate.feed(loud_frame, True) == (tail + quiet)[-640:] + loud_frame
