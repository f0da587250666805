"""Timing parsers for the linear-time tests (tests/security/test_f3_parsers_linear.py, tests/fuzz)."""
from __future__ import annotations

import gc
import time
from typing import Any, Callable


def best_of(fn: Callable[[str], Any], text: str, runs: int = 3) -> float:
    """Best of `runs` timings of `fn(text)`, without the garbage collector (its full passes scale with the whole
    heap of the test process, not with the parser, and make the ratio noisy)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            fn(text)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best
