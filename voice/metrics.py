"""The voice path's Prometheus metrics (issue 14), observed by the call session and speech synthesis; served by
the voice gateway's control API (`/metrics`) and, for the talk button, by the citizen page's metrics port."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ground.metrics import LATENCY_BUCKETS

TRANSPORTS = ("phone", "browser")
CALL_OUTCOMES = ("handoff", "bot_hangup", "silence", "caller_hangup", "error")

ACTIVE_CALLS = Gauge("seat_active_calls", "Calls in progress, by transport (phone = AudioSocket, browser = the "
                     "page's talk button)", ["transport"])
CALLS = Counter("seat_voice_calls", "Calls ended, by transport and outcome (handoff, bot_hangup, silence, "
                "caller_hangup, error, other)", ["transport", "outcome"])
ASR_RTF = Histogram("seat_asr_rtf", "Speech recognition real-time factor of one call: decoder CPU seconds per "
                    "second of audio decoded", ["transport"],
                    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0))
DIALOGUE_SECONDS = Histogram("seat_voice_dialogue_seconds", "Time the dialogue (Rasa) took to answer one turn of "
                             "a call, as the call sees it", ["transport"], buckets=LATENCY_BUCKETS)
TTS_CACHE = Counter("seat_tts_cache", "Speech synthesis requests by cache result (hit, miss; texts with personal "
                    "digits are never cached: uncached)", ["result"])
