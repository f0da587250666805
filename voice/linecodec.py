"""What the bytes under AudioSocket kind 0x10 really are: 16-bit linear PCM, µ-law or A-law.

Asterisk labels only signed linear audio by rate; its channel driver sends any other codec as kind
0x10 too (res/res_audiosocket.c, ``ast_audiosocket_send_frame``), so ``Dial(AudioSocket/host:port/uuid/
c(ulaw))`` delivers µ-law bytes in 160-byte frames (20 ms at 8 kHz) that read as loud noise when taken
for linear PCM. Frames coming *to* Asterisk are always taken as linear PCM by their kind and converted
to the channel's codec by Asterisk (main/channel.c updates its read translation path), so only the
caller's side needs decoding.

`LineCodec` decides from sample statistics: each frame is decoded three ways (s16le, µ-law, A-law) and
the decoding whose samples move least from one to the next (mean absolute first difference: speech
and line noise are smooth, a wrong decoding is not) wins the frame when it is clearly ahead (4x).
The frame size is the prior (160-byte frames: a companded 8 kHz codec; 320: slin): fewer clear frames
are needed for the expected answer. Frames before the decision (digital silence is ambiguous: it
decodes to near-constant samples in every codec) are dropped, so noise never reaches the session (no
barge-in on a misread line); the last second of them is kept and handed on, decoded, with the
deciding frame, so the onset of the first words is not lost. Audio that fits no decoding (G.722, GSM, ...) is refused: ``refused``
holds one log line naming the fix, ``c(slin)`` / ``c(slin16)`` on the channel driver.
"""
from __future__ import annotations

import audioop  # Python 3.10 stdlib (deprecated in 3.11, removed in 3.13; the seat runs on 3.10)
from collections import deque
from typing import Optional

import numpy as np

CODECS = ("slin", "ulaw", "alaw")
NAMES = {"slin": "16-bit linear", "ulaw": "µ-law", "alaw": "A-law"}
MARGIN = 4.0  # a frame's best decoding must move this many times less than the next best
# ... unless it is 16-bit linear on a line whose frame size says 16-bit linear (320 bytes at 8 kHz, 640 at 16 kHz):
# loud high tones (DTMF keys at 1.2-1.6 kHz, whistles) move a lot from sample to sample even when decoded right,
# while bytes of a companded codec read as 16-bit samples are near-random (about 21,800 per sample).
PRIOR_MARGIN = 1.3
MIN_CONTENT = 64.0  # below this (mean |first difference| of the runner-up) a frame says nothing
IMPLAUSIBLE = 6000.0  # even the best decoding jumps this much per sample: no known codec
REFUSE_AFTER = 50  # implausible frames (1 s) before refusing the line
HELD_FRAMES = 50  # undecided frames kept (about 1 s) and decoded once the codec is known
FIX = ("give the AudioSocket channel driver 16-bit linear audio: Dial(AudioSocket/host:port/${UUID}/c(slin)) "
       "or c(slin16), or use the AudioSocket() dialplan application, which always sends slin")


def decode(payload: bytes, codec: str) -> bytes:
    """``payload`` as 16-bit little-endian linear PCM."""
    if codec == "ulaw":
        return audioop.ulaw2lin(payload, 2)
    if codec == "alaw":
        return audioop.alaw2lin(payload, 2)
    return payload[: len(payload) // 2 * 2]


def roughness(payload: bytes, codec: str) -> float:
    """Mean absolute difference between neighbouring samples of ``payload`` decoded as ``codec``."""
    samples = np.frombuffer(decode(payload, codec), dtype="<i2").astype(np.int32)
    return float(np.abs(np.diff(samples)).mean()) if len(samples) > 1 else 0.0


class LineCodec:
    """Per call: feed each kind-0x10 payload, get linear PCM back (b"" until the codec is known)."""

    def __init__(self) -> None:
        self.codec: Optional[str] = None  # decided codec
        self.refused: Optional[str] = None  # the log line when no codec fits
        self.votes = dict.fromkeys(CODECS, 0)
        self.implausible = 0
        self.frame_bytes = 0  # size of the first frame (the prior)
        self._held: deque[bytes] = deque(maxlen=HELD_FRAMES)

    def feed(self, payload: bytes) -> bytes:
        """Linear PCM for this frame (with the held ones on the deciding frame); b"" while undecided or refused."""
        if self.codec is not None:
            return decode(payload, self.codec)
        if self.refused is not None:
            return b""
        self.frame_bytes = self.frame_bytes or len(payload)
        self._held.append(payload)
        scores = {codec: roughness(payload, codec) for codec in CODECS}
        ranked = sorted(CODECS, key=scores.__getitem__)
        best, runner_up = scores[ranked[0]], scores[ranked[1]]
        if runner_up < MIN_CONTENT:
            return b""  # (near) digital silence: fits every codec
        slin_line = self.frame_bytes in (320, 640)
        margin = PRIOR_MARGIN if slin_line and ranked[0] == "slin" else MARGIN
        if best * margin <= runner_up:
            self.votes[ranked[0]] += 1
            if self._decided(ranked[0]):
                self.codec = ranked[0]
                held, self._held = b"".join(decode(p, self.codec) for p in self._held), deque()
                return held
        elif best >= IMPLAUSIBLE:
            self.implausible += 1
            if self.implausible >= REFUSE_AFTER and not any(self.votes.values()):
                self.refused = (f"the caller's audio under AudioSocket kind 0x10 is not 16-bit linear, µ-law or "
                                f"A-law ({self.frame_bytes}-byte frames, {self.implausible} frames fit no "
                                f"decoding): {FIX}")
                self._held.clear()
        return b""

    def _decided(self, codec: str) -> bool:
        companded_size = self.frame_bytes == 160  # 20 ms of an 8-bit 8 kHz codec (slin: 320)
        expected = codec != "slin" if companded_size else codec == "slin"
        needed = 2 if expected else 5
        others = sum(v for c, v in self.votes.items() if c != codec)
        return self.votes[codec] >= needed and others * 3 <= self.votes[codec]

    @property
    def note(self) -> str:
        """One log line about a decided codec that is not linear (empty for slin)."""
        if self.codec in (None, "slin"):
            return ""
        return (f"the caller's audio under AudioSocket kind 0x10 is {NAMES[self.codec]} ({self.frame_bytes}-byte "
                f"frames), not 16-bit linear: decoding it here; better {FIX}")
