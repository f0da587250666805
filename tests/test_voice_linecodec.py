"""Which codec a caller's line carries (voice/linecodec.py), from the audio itself."""
from __future__ import annotations

import audioop

import pytest

from tests.voice_session_support import espeak, sox_dtmf
from voice.linecodec import LineCodec


def frames(pcm: bytes, size: int) -> list[bytes]:
    return [pcm[i:i + size].ljust(size, b"\0") for i in range(0, len(pcm), size)]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_key_tones_as_the_first_sound_of_a_linear_line_are_heard(tmp_path, rate):
    """A callee who keys at once (survey calls): the tones are the first audio and must reach the DTMF detector."""
    size = rate // 50 * 2  # 20 ms of 16-bit samples
    tones = sox_dtmf(tmp_path, "1#", rate=rate)
    line = LineCodec()
    heard = b"".join(line.feed(f) for f in [bytes(size)] * 25 + frames(tones, size))
    assert line.codec == "slin"
    assert tones[: len(heard)] and heard and tones.find(heard[:size * 2]) >= 0  # the onset was held, not lost


def test_ulaw_speech_in_160_byte_frames_is_decoded(tmp_path):
    pcm = espeak(tmp_path, "我要投诉楼下工地半夜施工", "cmn", rate=8000)
    ulaw = audioop.lin2ulaw(pcm, 2)
    line = LineCodec()
    heard = b"".join(line.feed(f) for f in frames(ulaw, 160))
    assert line.codec == "ulaw" and len(heard) > len(pcm) // 2


def test_ulaw_bytes_are_not_taken_for_linear_audio_in_320_byte_frames(tmp_path):
    """The lower margin for the line's own frame size does not let companded speech pass as linear noise."""
    pcm = espeak(tmp_path, "我要投诉楼下工地半夜施工", "cmn", rate=8000)
    line = LineCodec()
    for f in frames(audioop.lin2ulaw(pcm, 2), 320):
        line.feed(f)
    assert line.codec != "slin"
