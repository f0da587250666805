"""Knowledge-base retrieval: accuracy on held-out paraphrases, wrong answers out of scope, lookup latency.

    python bench/kb_eval.py [--split bench/kb_heldout2] [--json out.json] [--sizes 1000,10000]

The held-out set (`--split`, default bench/kb_eval/*.yml) was written apart from the entries
(ground/data/kb): new ways of asking the entries' questions (`expect: <entry id>`, or a list of ids when
duplicate entries answer the same question: any of them counts as right) and questions the knowledge base
must not answer (`expect: null`). bench/kb_heldout2 is a second split, citizens' own wordings written
from the topic list only. Latency is measured on synthetic knowledge bases of the given sizes, built from
the real entries' vocabulary, next to the real one (`--sizes ""`: the real one only).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nlu.kb_index import KbIndex  # noqa: E402
from ground.store.knowledge import Entry, read_kb_files  # noqa: E402

EVAL_DIR = REPO / "bench" / "kb_eval"


@dataclass
class EvalResult:
    in_scope: int
    top1_accuracy: float        # the best-ranked entry is the expected one
    answered_correctly: float   # the bot answers, with the expected entry
    wrong_answer_in_scope: float
    out_of_scope: int
    wrong_answer_out_of_scope: float  # the bot answers a question it has no entry for
    misses: list
    clarified_in_scope: float = 0.0         # a clarifying question ("您是想问……，对吗？") instead of an answer
    clarified_right_in_scope: float = 0.0   # ... proposing an expected entry
    clarified_out_of_scope: float = 0.0


def load_queries(directory: Path = EVAL_DIR) -> list[tuple[str, str | tuple[str, ...] | None]]:
    """(text, expected entry id, a tuple of ids, or None out of scope) of every `*.yml` in `directory`."""
    queries = []
    for path in sorted(directory.glob("*.yml")):
        for q in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("queries") or []:
            expect = q.get("expect")
            queries.append((str(q["text"]), tuple(map(str, expect)) if isinstance(expect, list) else expect))
    if not queries:
        raise SystemExit(f"no queries in {directory}/*.yml")
    return queries


def _is(key: str, expect: str | tuple[str, ...]) -> bool:
    return key in expect if isinstance(expect, tuple) else key == expect


def evaluate(index: KbIndex, queries: list[tuple[str, str | tuple[str, ...] | None]]) -> EvalResult:
    inside = [(t, e) for t, e in queries if e]
    outside = [t for t, e in queries if not e]
    top1 = answered = wrong_in = wrong_out = clarified = clarified_right = clarified_out = 0
    misses = []
    for text, expect in inside:
        hits = index.search(text, k=1)
        decision = index.decide(text)
        top1 += bool(hits and _is(hits[0].entry.key, expect))
        if decision.action == "answer":
            if _is(decision.hit.entry.key, expect):
                answered += 1
            else:
                wrong_in += 1
                misses.append({"text": text, "expect": expect, "answered": decision.hit.entry.key})
            continue
        if decision.action == "clarify":
            clarified += 1
            clarified_right += _is(decision.hit.entry.key, expect)
        if not (hits and _is(hits[0].entry.key, expect)):
            misses.append({"text": text, "expect": expect, "top": hits[0].entry.key if hits else None})
    for text in outside:
        decision = index.decide(text)
        if decision.action == "answer":
            wrong_out += 1
            misses.append({"text": text, "expect": None, "answered": decision.hit.entry.key})
        clarified_out += decision.action == "clarify"
    n_in, n_out = max(1, len(inside)), max(1, len(outside))
    return EvalResult(len(inside), top1 / n_in, answered / n_in, wrong_in / n_in, len(outside), wrong_out / n_out, misses,
                      clarified / n_in, clarified_right / n_in, clarified_out / n_out)


def synthetic_entries(real: list[Entry], size: int, seed: int = 7) -> list[Entry]:
    """`size` entries: the real ones plus questions recombined from their words."""
    import jieba

    rng = random.Random(seed)
    words = [w for e in real for w in jieba.lcut(e.question + "".join(e.paraphrases)) if len(w) > 1]
    entries = list(real[:size])
    while len(entries) < size:
        n = len(entries)
        phrasings = ["".join(rng.sample(words, 4)) for _ in range(4)]
        entries.append(Entry(f"syn-{n}", "合成", phrasings[0], tuple(phrasings[1:]), "合成答案。"))
    return entries


def latency(index: KbIndex, queries: list[str], rounds: int = 3) -> tuple[float, float]:
    """p50 and p99 of decide() in milliseconds."""
    times = []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            index.decide(q)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, default=EVAL_DIR, help="directory of *.yml queries (default bench/kb_eval)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
    entries = read_kb_files()
    queries = load_queries(args.split)
    index = KbIndex(entries)
    result = evaluate(index, queries)
    active = [e for e in entries if e.status == "active"]
    print(f"split: {args.split}")
    print(f"knowledge base: {len(active)} active entries ({len(entries) - len(active)} retired) over "
          f"{len({e.topic for e in active})} topics")
    print(f"held-out in scope: {result.in_scope}  top-1 accuracy {result.top1_accuracy:.1%}  "
          f"answered correctly {result.answered_correctly:.1%}  wrong answers {result.wrong_answer_in_scope:.1%}  "
          f"clarified {result.clarified_in_scope:.1%} (right candidate {result.clarified_right_in_scope:.1%})")
    print(f"out of scope: {result.out_of_scope}  wrong answers {result.wrong_answer_out_of_scope:.1%}  "
          f"clarified {result.clarified_out_of_scope:.1%}")
    texts = [t for t, _ in queries]
    sizes = [len(entries)] + [int(s) for s in args.sizes.split(",") if s]
    report = {"split": str(args.split), "eval": result.__dict__, "latency_ms": {}}
    base = None
    print(f"{'entries':>8} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/real':>9}")
    for size in sizes:
        kb = entries if size == len(entries) else synthetic_entries(entries, size)
        t0 = time.perf_counter()
        idx = KbIndex(kb)
        build = time.perf_counter() - t0
        p50, p99 = latency(idx, texts)
        base = base or p99
        report["latency_ms"][size] = {"p50": round(p50, 3), "p99": round(p99, 3), "build_s": round(build, 2)}
        print(f"{size:>8} {build:>8.2f} {p50:>8.2f} {p99:>8.2f} {p99 / base:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
