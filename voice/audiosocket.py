"""Asterisk AudioSocket protocol: small typed events and an asyncio TCP server.

Verified protocol (sources below): a frame is kind (1 byte), payload length
(2 bytes, unsigned big-endian), payload. Kinds: 0x00 hangup, no payload (closing
the socket also hangs up); 0x01 call UUID, 16 raw bytes; 0x03 DTMF, 1 ASCII
byte; 0x10 audio, signed 16-bit little-endian mono 8 kHz (20 ms = 320 bytes);
0xff error, optional code (Asterisk's: one byte of flags, 0x01 caller hung up,
0x02 frame forwarding error, 0x04 memory error). Asterisk PR #1492 (merged Oct
2025, for 20-23) adds 0x11 12 kHz, 0x12 16 kHz, 0x13 24 kHz, 0x14 32 kHz,
0x15 44.1 kHz, 0x16 48 kHz, 0x17 96 kHz, 0x18 192 kHz (its first revision had
0x11 = 16 kHz; the merged one does not). Asterisk sends the UUID first; from us
it reads only hangup and audio frames, and its reader fails on a UUID, DTMF,
error or empty audio frame. The dialplan app always sends 8 kHz; otherwise slin
is labelled by rate and any non-slin codec goes out as 0x10 (e.g. 160-byte µ-law frames from
``Dial(AudioSocket/host:port/uuid/c(ulaw))``; see voice/linecodec.py). The dialplan app hangs up after
2,000 ms without a frame in either direction (``Call.keep_alive``). Sources:
https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/ ,
https://github.com/asterisk/asterisk/blob/master/res/res_audiosocket.c ,
https://github.com/asterisk/asterisk/pull/1492 ,
https://github.com/CyCoreSystems/audiosocket (README: error codes).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Optional, Union

_LOGGER = logging.getLogger("voice.audiosocket")
_MALFORMED = "%s: malformed AudioSocket input (%s); closing the connection"

KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_ERROR = 0x00, 0x01, 0x03, 0xFF
AUDIO_KINDS: dict[int, int] = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000,
                               0x15: 44100, 0x16: 48000, 0x17: 96000, 0x18: 192000}  # kind -> Hz
_KIND_BY_RATE = {rate: kind for kind, rate in AUDIO_KINDS.items()}
_FIXED = {KIND_HANGUP: ("hangup", (0,)), KIND_UUID: ("UUID", (16,)),  # name, allowed payload lengths
          KIND_DTMF: ("DTMF", (1,)), KIND_ERROR: ("error", (0, 1))}
_HEADER = struct.Struct(">BH")
MAX_FRAME_PAYLOAD = 0xFFFF  # what the length field can carry
DEFAULT_MAX_PAYLOAD = 16384  # > 40 ms at 192 kHz
FRAME_MS = 20


class AudioSocketError(Exception):
    """Malformed, truncated or unencodable AudioSocket data."""


@dataclass(frozen=True)
class Hangup:
    """Hang up (kind 0x00)."""


@dataclass(frozen=True)
class CallId:
    """The call's UUID, sent by Asterisk first (kind 0x01)."""
    uuid: uuid.UUID


@dataclass(frozen=True)
class Dtmf:
    """One DTMF digit (kind 0x03): a printable ASCII character."""
    digit: str

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or not 0x20 < ord(self.digit) < 0x7F:
            raise AudioSocketError(f"DTMF digit must be one printable ASCII character, got {self.digit!r}")


@dataclass(frozen=True)
class Audio:
    """Signed 16-bit little-endian mono PCM (kinds 0x10-0x18)."""
    pcm: bytes = field(repr=False)
    sample_rate: int = 8000

    def __post_init__(self) -> None:
        if self.sample_rate not in _KIND_BY_RATE:
            raise AudioSocketError(f"unsupported sample rate {self.sample_rate} Hz")
        if not self.pcm or len(self.pcm) % 2:
            raise AudioSocketError(f"audio payload must be a non-empty even number of bytes, got {len(self.pcm)}")


@dataclass(frozen=True)
class Error:
    """Error reported by Asterisk (kind 0xff); code 0 when none was given."""
    code: int

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFF:
            raise AudioSocketError(f"error code must fit in one byte, got {self.code}")


Event = Union[Hangup, CallId, Dtmf, Audio, Error]


def frame_bytes(sample_rate: int, ms: int = FRAME_MS) -> int:
    """Bytes of 16-bit mono PCM in ``ms`` milliseconds (320 for 20 ms at 8 kHz)."""
    return sample_rate * ms // 1000 * 2


def encode(event: Event) -> bytes:
    """One event as a wire frame."""
    if isinstance(event, Hangup):
        kind, payload = KIND_HANGUP, b""
    elif isinstance(event, CallId):
        kind, payload = KIND_UUID, event.uuid.bytes
    elif isinstance(event, Dtmf):
        kind, payload = KIND_DTMF, event.digit.encode("ascii")
    elif isinstance(event, Audio):
        kind, payload = _KIND_BY_RATE[event.sample_rate], event.pcm
    elif isinstance(event, Error):
        kind, payload = KIND_ERROR, bytes([event.code])
    else:
        raise AudioSocketError(f"cannot encode {type(event).__name__}")
    if len(payload) > MAX_FRAME_PAYLOAD:
        raise AudioSocketError(f"payload of {len(payload)} bytes exceeds {MAX_FRAME_PAYLOAD}")
    return _HEADER.pack(kind, len(payload)) + payload


async def read_event(reader: asyncio.StreamReader, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Optional[Event]:
    """Next event, None on EOF between frames; AudioSocketError (before reading the payload if possible)."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise AudioSocketError(f"truncated header: EOF after {len(exc.partial)} of 3 bytes") from None
    kind, length = _HEADER.unpack(header)
    if kind in AUDIO_KINDS:
        if length == 0 or length % 2:
            hint = (" (odd-sized: not 16-bit linear audio; give the channel driver c(slin) or c(slin16))"
                    if length % 2 else "")
            raise AudioSocketError(f"audio frame of {length} bytes, expected a non-zero even length{hint}")
    elif kind in _FIXED:
        name, allowed = _FIXED[kind]
        if length not in allowed:
            raise AudioSocketError(f"{name} frame of {length} bytes, expected {' or '.join(map(str, allowed))}")
    else:
        raise AudioSocketError(f"unknown frame kind 0x{kind:02x} (length {length})")
    if length > max_payload:
        raise AudioSocketError(f"payload of {length} bytes exceeds the limit of {max_payload}")
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise AudioSocketError(f"truncated frame kind 0x{kind:02x}: EOF after "
                               f"{len(exc.partial)} of {length} payload bytes") from None
    if kind in AUDIO_KINDS:
        return Audio(payload, AUDIO_KINDS[kind])
    return {KIND_HANGUP: Hangup, KIND_UUID: lambda: CallId(uuid.UUID(bytes=payload)),
            KIND_DTMF: lambda: Dtmf(payload.decode("latin-1")),
            KIND_ERROR: lambda: Error(payload[0] if payload else 0)}[kind]()


class AudioPacer:
    """Sends PCM as 20 ms Audio frames in real time; ``stop()`` ends playback at once (barge-in).

    Deadlines are absolute, so sleep jitter does not accumulate (drift correction);
    after a stall longer than ``max_lag`` the schedule is rebased instead of bursting.
    """

    def __init__(self, send: Callable[[Audio], Awaitable[None]], frame_ms: int = FRAME_MS,
                 max_lag: float = 0.1) -> None:
        self._send, self._frame_ms, self._max_lag, self._generation = send, frame_ms, max_lag, 0
        self._waiter: Optional[asyncio.Future[bool]] = None
        self._lock = asyncio.Lock()

    def stop(self) -> None:
        """Stop the current and any queued play() now."""
        self._generation += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(False)

    async def play(self, pcm: bytes, sample_rate: int = 8000) -> bool:
        """Send ``pcm`` paced in real time; True once played out, False if stopped."""
        generation, step = self._generation, frame_bytes(sample_rate, self._frame_ms)
        if len(pcm) % 2:
            raise AudioSocketError(f"PCM buffer of {len(pcm)} bytes is not whole 16-bit samples")
        async with self._lock:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for offset in range(0, len(pcm), step):
                if generation != self._generation:
                    return False
                due = start + offset / (2 * sample_rate)
                lag = loop.time() - due
                if lag > self._max_lag:
                    start += lag
                elif not await self._sleep_until(loop, due):
                    return False
                await self._send(Audio(pcm[offset:offset + step], sample_rate))
            # Return once the last frame has played out (unless stopped meanwhile).
            return generation == self._generation and await self._sleep_until(
                loop, start + len(pcm) / (2 * sample_rate))

    @property
    def playing(self) -> bool:
        """A play() is running (or waiting for the one before it)."""
        return self._lock.locked()

    async def keep_alive(self, sample_rate: Callable[[], int]) -> None:
        """Send a 20 ms silence frame every 20 ms while nothing is being played, until cancelled.

        Asterisk's app_audiosocket hangs up after 2,000 ms without a frame in either direction
        (apps/app_audiosocket.c, MAX_WAIT_TIMEOUT_MSEC), so a listening seat must keep talking.
        The rate is read per frame: the call's rate may be learnt late.
        """
        loop = asyncio.get_running_loop()
        step = self._frame_ms / 1000.0
        due = loop.time()
        while True:
            if not self.playing:
                await self._send(Audio(bytes(frame_bytes(sample_rate(), self._frame_ms)), sample_rate()))
            due += step
            lag = loop.time() - due
            if lag > self._max_lag:  # stalled: rebase rather than burst
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, deadline: float) -> bool:
        """Sleep until ``deadline``; returns False at once on stop()."""
        waiter: asyncio.Future[bool] = loop.create_future()
        handle = loop.call_at(deadline, lambda: waiter.done() or waiter.set_result(True))
        self._waiter = waiter
        try:
            return await waiter
        finally:
            handle.cancel()
            self._waiter = None


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close gracefully; abort if unsent data is not taken within 1 s or on cancellation."""
    writer.close()
    try:
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    finally:
        writer.transport.abort()  # a no-op once closed


class Call:
    """One AudioSocket connection, handed to the server's handler."""

    def __init__(self, first: CallId, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 peer: str, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.call_id, self.peer, self.closed = first.uuid, peer, False
        self._first: Optional[CallId] = first
        self._reader, self._writer, self._max_payload = reader, writer, max_payload
        self._pacer = AudioPacer(self._send_frame)
        # Called (synchronously) the moment the other side is known gone (hangup or error frame, EOF,
        # bad input), before the connection is closed: a dialplan reading the outcome right after
        # hang-up must not race the close.
        self.on_end: Optional[Callable[[], None]] = None

    async def events(self) -> AsyncIterator[Event]:
        """Events from the CallId on; at Hangup/Error, EOF or bad input (logged) the call closes and this ends."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while not self.closed:
            try:
                event = await read_event(self._reader, self._max_payload)
            except AudioSocketError as exc:
                _LOGGER.warning(_MALFORMED, self.peer, exc)
                event = None
            except (ConnectionError, OSError) as exc:
                _LOGGER.debug("%s: connection lost (%s)", self.peer, exc)
                event = None
            if event is None:
                break
            if isinstance(event, (Hangup, Error)):
                self._ended()
            yield event
            if isinstance(event, (Hangup, Error)):
                break
        self._ended()
        await self.close()

    def _ended(self) -> None:
        hook, self.on_end = self.on_end, None
        if hook is not None:
            hook()

    async def send_audio(self, pcm: bytes, sample_rate: int = 8000) -> bool:
        """Play PCM to the caller in real time; False if stopped or disconnected."""
        try:
            return await self._pacer.play(pcm, sample_rate)
        except (ConnectionError, OSError):
            return False

    def stop_audio(self) -> None:
        """Barge-in: make send_audio() return now."""
        self._pacer.stop()

    async def keep_alive(self, sample_rate: Callable[[], int]) -> None:
        """Silence frames at ``sample_rate()`` whenever no audio is being played, until cancelled or closed."""
        try:
            await self._pacer.keep_alive(sample_rate)
        except (ConnectionError, OSError):
            pass

    async def hangup(self) -> None:
        """Send a hangup frame and close the connection."""
        self._pacer.stop()
        if not self.closed and not self._writer.is_closing():
            self._writer.write(encode(Hangup()))
        await self.close()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        self.closed = True
        self._pacer.stop()
        await _close_writer(self._writer)

    async def _send_frame(self, event: Audio) -> None:
        if self.closed or self._writer.is_closing():
            raise ConnectionResetError("call is closed")
        self._writer.write(encode(event))
        await self._writer.drain()


class AudioSocketServer:
    """Asyncio TCP server running ``await handler(call)`` per AudioSocket connection."""

    def __init__(self, handler: Callable[[Call], Awaitable[None]], *,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, handshake_timeout: float = 5.0) -> None:
        self._handler, self._max_payload, self._handshake_timeout = handler, max_payload, handshake_timeout
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: Optional[int] = None
        self.open_calls = 0  # connections accepted and not yet closed

    async def start(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 256) -> int:
        """Listen on host:port (0 = a free port); returns the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port, backlog=backlog)
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info("AudioSocket server listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening, cancel open calls and wait until they are closed."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open_calls += 1
        peer = "%s:%s" % tuple((writer.get_extra_info("peername") or ("?", "?"))[:2])
        call: Optional[Call] = None
        try:
            try:
                first = await self._handshake(reader)
            except AudioSocketError as exc:
                _LOGGER.warning(_MALFORMED, peer, exc)
                first = None
            if first is not None:
                call = Call(first, reader, writer, peer, self._max_payload)
                await self._handler(call)
        except (ConnectionError, OSError) as exc:
            _LOGGER.debug("%s: connection lost (%s)", peer, exc)
        except Exception:  # a handler bug must not take the server down
            _LOGGER.exception("%s: AudioSocket handler failed", peer)
        finally:
            try:
                await (call.close() if call else _close_writer(writer))
            finally:
                self.open_calls -= 1
                self._tasks.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader) -> Optional[CallId]:
        """The opening UUID frame, None on EOF; AudioSocketError for anything else or a timeout."""
        try:
            first = await asyncio.wait_for(read_event(reader, self._max_payload), self._handshake_timeout)
        except asyncio.TimeoutError:
            raise AudioSocketError(f"no UUID frame within {self._handshake_timeout:g} s") from None
        if first is not None and not isinstance(first, CallId):
            raise AudioSocketError(f"expected a UUID frame first, got {type(first).__name__}")
        return first
