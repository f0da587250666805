"""Memory diagnostics of a seat process, off unless SEAT_MEMDEBUG_DIR is set (issue 15: memory).

With SEAT_MEMDEBUG_DIR=/some/dir a process that calls `install_from_env(name)` (the Rasa servers and the action
server do) starts `tracemalloc` (SEAT_MEMDEBUG_FRAMES frames per allocation, default 8) and, on each SIGUSR2,
writes into that directory:

* `<name>-<pid>-<n>.tracemalloc`: a tracemalloc snapshot (compare two with `bench/memdiff.py`);
* `<name>-<pid>-<n>.json`: live Python objects by type (after a full `gc.collect()`, as objgraph's
  `most_common_types` counts them), the traced total, and the process's RSS before and after glibc's
  `malloc_trim(0)` (how much of the RSS was freed heap that glibc had not given back to the system).

tracemalloc slows the process down (several times for allocation-heavy code): for diagnosis only, never in
production. Nothing here changes what the process answers.
"""
from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import re
import signal
import threading
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from ground.settings import MetricsSettings, current

log = logging.getLogger(__name__)



def rss_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, RssAnon and RssFile (kB) of a process, from /proc/<pid>/status."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {key: int(m.group(1)) for key in ("VmRSS", "RssAnon", "RssFile")
            if (m := re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.M))}


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): give freed heap back to the system; False where there is no glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def type_counts(limit: int = 40) -> dict[str, int]:
    """The most common live object types (after a full collection)."""
    gc.collect()
    counts = Counter(type(o).__name__ for o in gc.get_objects())
    return dict(counts.most_common(limit))


class MemDebug:
    """Writes a snapshot pair (tracemalloc + JSON summary) per `dump()`, numbered from 0."""

    def __init__(self, directory: Path, name: str, frames: int = 8) -> None:
        self.directory, self.name, self.pid = directory, name, os.getpid()
        self.count = 0
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    def dump(self) -> Path:
        with self._lock:
            stem = self.directory / f"{self.name}-{self.pid}-{self.count:03d}"
            self.count += 1
            summary: dict[str, Any] = {"name": self.name, "pid": self.pid, "types": type_counts()}
            snap = tracemalloc.take_snapshot()
            snap.dump(f"{stem}.tracemalloc")
            summary["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
            summary["rss_kb_before_trim"] = rss_kb()
            summary["malloc_trim"] = malloc_trim()
            summary["rss_kb_after_trim"] = rss_kb()
            Path(f"{stem}.json").write_text(json.dumps(summary, indent=1))
            return Path(f"{stem}.tracemalloc")


_installed: Optional[MemDebug] = None


def install_from_env(name: str, metrics: Optional[MetricsSettings] = None) -> Optional[MemDebug]:
    """Start the diagnostics if SEAT_MEMDEBUG_DIR is set (read by ground.settings; `metrics` defaults to the current
    settings'): tracemalloc now, a dump on each SIGUSR2."""
    global _installed
    metrics = current().metrics if metrics is None else metrics
    if metrics.memdebug_dir is None:
        return None
    if _installed is None:
        _installed = MemDebug(metrics.memdebug_dir, name, metrics.memdebug_frames)

        def on_signal(_signum: int, _frame: Any) -> None:
            # not in the handler itself: a dump takes a while and must not run inside whatever was interrupted
            threading.Thread(target=_installed.dump, name="memdebug-dump", daemon=True).start()

        signal.signal(signal.SIGUSR2, on_signal)
        log.warning("memory diagnostics on (tracemalloc, %s): SIGUSR2 writes a snapshot to %s", name, metrics.memdebug_dir)
    return _installed
