"""`python -m seat.guard`: kills the launcher's children when the launcher is gone, even after `kill -9`.

The launcher starts it in a session of its own and tells it on stdin which process groups it runs
(`add PGID` / `del PGID`, one a line). When stdin closes (the launcher stopped, or died: the kernel closes the
pipe), every group still listed gets SIGTERM, and SIGKILL after a grace period: the services and whatever they
started themselves (grandchildren in their group). Terminal signals are ignored: the launcher handles those.
"""
from __future__ import annotations

import os
import signal
import sys
import time

GRACE_S = 5.0


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal(groups: set[int], sig: int) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin:
        verb, _, arg = line.strip().partition(" ")
        if arg.isdigit() and int(arg) > 1:
            (groups.add if verb == "add" else groups.discard)(int(arg))
    groups = {g for g in groups if _alive(g)}
    if not groups:
        return 0
    print(f"seat | guard: the launcher is gone; stopping process groups {sorted(groups)}", file=sys.stderr,
          flush=True)
    _signal(groups, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(_alive(g) for g in groups):
        time.sleep(0.1)
    _signal(groups, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
