"""DTMF: collecting key presses into messages, and detecting in-band tones in the caller's audio.

`DtmfCollector` turns key presses into one message per entry: ``#`` ends an entry, ``*`` clears it,
11 digits (a phone number) end it, and otherwise it is sent after an inter-digit timeout (a single
menu digit goes after the timeout too). It is pure and clocked by the caller (``now`` arguments).

`GoertzelDetector` finds DTMF digits in 16-bit PCM with the Goertzel measure (the power of the block at each
DTMF frequency, |sum x[n] e^(-jwn)|^2, the same value the second-order Goertzel resonator gives, computed as one
matrix product for the eight frequencies: it runs on every frame of every call), per 25.6 ms block (205 samples at
8 kHz, the classic block size): a digit is the strongest row and column tone holding most of the
block's energy, with at most 8 dB twist and no rival tone in its group, seen in two consecutive blocks.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
VALID_KEYS = frozenset("0123456789*#ABCD")


class DtmfCollector:
    """Collects key presses; `press()` / `due()` return the entry to send, or None."""

    def __init__(self, timeout_s: float = 3.0, max_digits: int = 11) -> None:
        self.timeout_s, self.max_digits = timeout_s, max_digits
        self._digits: list[str] = []
        self._last: float = 0.0

    @property
    def pending(self) -> str:
        return "".join(self._digits)

    def press(self, key: str, now: float) -> Optional[str]:
        """Account for one key; the entry when it is complete (``#`` or ``max_digits``)."""
        if key == "#":
            return self._flush()
        if key == "*":
            self._digits.clear()
            return None
        if key not in VALID_KEYS:
            return None
        self._digits.append(key)
        self._last = now
        return self._flush() if len(self._digits) >= self.max_digits else None

    def due(self, now: float) -> Optional[str]:
        """The entry once no key came for ``timeout_s``."""
        if self._digits and now - self._last >= self.timeout_s:
            return self._flush()
        return None

    def _flush(self) -> Optional[str]:
        text, self._digits = "".join(self._digits), []
        return text or None


class GoertzelDetector:
    """In-band DTMF detection over a PCM stream; `feed()` returns the digits that started in it."""

    MIN_RMS = 150.0  # quieter blocks are not examined
    MIN_SHARE = 0.6  # the two tones hold at least this share of the block's energy
    MAX_TWIST_DB = 8.0
    RIVAL_DB = 8.0  # the second tone of a group must be this much weaker

    def __init__(self, sample_rate: int = 8000, block_ms: float = 25.6) -> None:
        self.sample_rate = sample_rate
        self.block = max(64, round(sample_rate * block_ms / 1000))
        phase = np.outer([2.0 * math.pi * f / sample_rate for f in ROWS + COLS], np.arange(self.block))
        self._basis = np.vstack([np.cos(phase), np.sin(phase)])  # (16, block): cosines then sines
        self._buf = np.zeros(0, dtype=np.float64)
        self._candidate: Optional[str] = None
        self._reported = False
        self.tone_active = False  # the last block held a DTMF tone

    def _powers(self, x: np.ndarray) -> np.ndarray:
        """The block's power at the eight DTMF frequencies (what the Goertzel resonator
        s[n] = x[n] + 2cos(w)s[n-1] - s[n-2] gives from its last two states)."""
        proj = self._basis @ x
        return proj[:8] ** 2 + proj[8:] ** 2

    def _classify(self, x: np.ndarray) -> Optional[str]:
        energy = float(np.dot(x, x))
        if energy < (self.MIN_RMS ** 2) * len(x):
            return None
        share = (2.0 / (len(x) * energy) * self._powers(x)).tolist()  # ~1 for a pure tone
        rows, cols = share[:4], share[4:]
        r, c = int(np.argmax(rows)), int(np.argmax(cols))
        if rows[r] + cols[c] < self.MIN_SHARE:
            return None
        if abs(10 * math.log10(max(rows[r], 1e-12) / max(cols[c], 1e-12))) > self.MAX_TWIST_DB:
            return None
        rival = 10 ** (-self.RIVAL_DB / 10)
        if any(v > rows[r] * rival for i, v in enumerate(rows) if i != r):
            return None
        if any(v > cols[c] * rival for i, v in enumerate(cols) if i != c):
            return None
        return KEYS[r][c]

    def feed(self, pcm: bytes) -> list[str]:
        """Examine the new audio; digits whose tone was confirmed (two blocks in a row) in it."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        self._buf = np.concatenate([self._buf, samples])
        found: list[str] = []
        while len(self._buf) >= self.block:
            block, self._buf = self._buf[: self.block], self._buf[self.block:]
            key = self._classify(block)
            self.tone_active = key is not None
            if key is None or key != self._candidate:
                self._candidate, self._reported = key, False
            elif not self._reported:
                self._reported = True
                found.append(key)
        return found
