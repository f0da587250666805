"""Compare the memory snapshots a seat process wrote with SEAT_MEMDEBUG_DIR (ground/memdebug.py).

For each process (name-pid) in the directory: its snapshots in order with traced Python memory, RSS and RSS after
glibc's malloc_trim; then what grew between two of them (default: the second, i.e. after the first round, and
the last): the source lines whose live allocations grew most (tracemalloc) and the object types whose count grew.

    .venv/bin/python bench/chat.py --rounds 4 --memdebug /tmp/md
    .venv/bin/python bench/memdiff.py /tmp/md              # snapshot 1 (after round 1) against the last
    .venv/bin/python bench/memdiff.py /tmp/md --from 0 --top 30
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tracemalloc
from collections import defaultdict
from pathlib import Path

STEM = re.compile(r"^(?P<proc>.+-\d+)-(?P<n>\d{3})\.json$")


def processes(directory: Path) -> dict[str, list[Path]]:
    """name-pid → its summary files in order."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(directory.glob("*.json")):
        match = STEM.match(path.name)
        if match:
            found[match["proc"]].append(path)
    return dict(found)


def report(proc: str, summaries: list[Path], first: int, top: int) -> None:
    data = [json.loads(p.read_text()) for p in summaries]
    print(f"\n== {proc}")
    print(f"{'snap':>4} {'traced MB':>9} {'RSS MB':>7} {'anon MB':>7} {'RSS after trim':>14}")
    for k, d in enumerate(data):
        before, after = d["rss_kb_before_trim"], d["rss_kb_after_trim"]
        print(f"{k:>4} {d['traced_mb']:>9.1f} {before['VmRSS'] / 1024:>7.0f} {before['RssAnon'] / 1024:>7.0f} "
              f"{after['VmRSS'] / 1024:>14.0f}")
    if len(data) < 2:
        return
    a, b = min(first, len(data) - 2), len(data) - 1
    old = tracemalloc.Snapshot.load(str(summaries[a].with_suffix(".tracemalloc")))
    new = tracemalloc.Snapshot.load(str(summaries[b].with_suffix(".tracemalloc")))
    stats = new.compare_to(old, "lineno")
    print(f"-- traced growth, snapshot {a} -> {b}: {sum(s.size_diff for s in stats) / 2**20:+.2f} MB "
          f"in {sum(s.count_diff for s in stats):+d} blocks; top lines:")
    for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:top]:
        if stat.size_diff <= 0:
            break
        frame = stat.traceback[0]
        print(f"   {stat.size_diff / 1024:>+9.1f} KiB {stat.count_diff:>+7d} blocks  {frame.filename}:{frame.lineno}")
    grown = {t: data[b]["types"].get(t, 0) - data[a]["types"].get(t, 0)
             for t in set(data[a]["types"]) | set(data[b]["types"])}
    print("-- object types (most common 40; gc-tracked objects only) whose count grew: " + (", ".join(
        f"{t} {n:+d}" for t, n in sorted(grown.items(), key=lambda kv: -kv[1]) if n > 0) or "none"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--from", dest="first", type=int, default=1,
                        help="snapshot to compare the last one against (default 1: after the first round)")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    procs = processes(args.directory)
    if not procs:
        print(f"no snapshots in {args.directory}", file=sys.stderr)
        return 1
    for proc, summaries in procs.items():
        report(proc, summaries, args.first, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
