"""Energy gate: decode the caller's audio only around loud parts, a large saving on a quiet phone line."""
from __future__ import annotations


class EnergyGate:
    """Opens on loud audio (handing over the pre-roll kept before it), closes `hangover_ms` after the last
    loud chunk. The hangover must exceed the endpointer's silence so an utterance can end inside it."""

    def __init__(self, sample_rate: int, hangover_ms: int = 1500, preroll_ms: int = 300) -> None:
        self.sample_rate, self.hangover_ms = sample_rate, hangover_ms
        self._preroll_bytes = sample_rate * preroll_ms // 1000 * 2
        self._preroll = bytearray()
        self._left_ms = 0.0
        self.open = False

    def feed(self, pcm: bytes, loud: bool) -> bytes:
        """The audio to decode for this chunk (b"" while closed)."""
        if loud:
            self._left_ms = float(self.hangover_ms)
            if not self.open:
                self.open = True
                out, self._preroll = bytes(self._preroll) + pcm, bytearray()
                return out
            return pcm
        if self.open:
            self._left_ms -= len(pcm) / 2 / self.sample_rate * 1000.0
            return pcm
        self._preroll += pcm
        del self._preroll[: max(0, len(self._preroll) - self._preroll_bytes)]
        return b""

    def shut(self, undecoded: bytes = b"") -> None:
        """Close at once (the utterance has ended): the next loud audio opens the gate again; `undecoded`
        (audio received but not yet decoded) becomes the start of its pre-roll."""
        self.open, self._left_ms = False, 0.0
        self._preroll = bytearray(undecoded[-self._preroll_bytes:] if self._preroll_bytes else b"")

    def closing(self) -> bool:
        """True once, when the hangover has run out (the gate is closed from then on)."""
        if self.open and self._left_ms <= 0:
            self.open = False
            return True
        return False
