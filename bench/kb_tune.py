"""Choose the knowledge base's weights and answer thresholds on a development set, never on the held-out set.

    python bench/kb_tune.py [--weights]

Development set (bench/kb_dev/): each entry's last paraphrase taken out of the index and asked as a
question, the story-style questions of in_scope.yml (never in the entries) and the questions of
out_of_scope.yml. Prints top-1 accuracy, then answered-correctly / wrong-answer rates over a grid of
thresholds, so the constants in seat/kb/index.py can be set (and checked) from data. `--weights` first
prints top-1 over a grid of the index's field weights (question, answer, topic) and BM25 parameters.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seat.kb import index as kb_index  # noqa: E402
from seat.kb.repository import read_kb_files  # noqa: E402

DEV_DIR = REPO / "bench" / "kb_dev"


def _queries(name: str) -> list[tuple[str, str | None]]:
    data = yaml.safe_load((DEV_DIR / name).read_text(encoding="utf-8")) or {}
    return [(str(q["text"]), q.get("expect")) for q in data.get("queries") or []]


def dev_set():
    """(entries without their last paraphrase, [(question, key)] in scope, [question] out of scope)."""
    entries = read_kb_files()
    held, kept = [], []
    for e in entries:
        if len(e.paraphrases) >= 2:
            held.append((e.paraphrases[-1], e.key))
            kept.append(replace(e, paraphrases=e.paraphrases[:-1]))
        else:
            kept.append(e)
    held += [(t, k) for t, k in _queries("in_scope.yml") if k]
    oos = [t for t, k in _queries("out_of_scope.yml") if not k]
    return kept, held, oos


def top1(idx: kb_index.KbIndex, held) -> float:
    return sum(1 for q, k in held if (h := idx.search(q, 1)) and h[0].entry.key == k) / len(held)


def weight_grid(kept, held) -> None:
    """top-1 over field weights and BM25 parameters (restored afterwards)."""
    names = ("QUESTION_WEIGHT", "ANSWER_WEIGHT", "TOPIC_WEIGHT", "K1", "B")
    saved = {n: getattr(kb_index, n) for n in names}
    cached = functools.lru_cache(maxsize=None)(kb_index.terms)
    kb_index.terms = cached
    print(f"{'question':>9}{'answer':>7}{'topic':>6}{'k1':>5}{'b':>5}{'top-1':>8}")
    for qw, aw, tw, k1, b in itertools.product((1, 2), (0.3, 0.6, 1.0), (0, 0.5, 1.0), (1.2, 2.0), (0.3, 0.75)):
        for n, v in zip(names, (qw, aw, tw, k1, b)):
            setattr(kb_index, n, v)
        print(f"{qw:>9}{aw:>7}{tw:>6}{k1:>5}{b:>5}{top1(kb_index.KbIndex(kept), held):>8.1%}", flush=True)
    for n, v in saved.items():
        setattr(kb_index, n, v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", action="store_true", help="grid over field weights first")
    args = ap.parse_args()
    kept, held, oos = dev_set()
    if args.weights:
        weight_grid(kept, held)
    idx = kb_index.KbIndex(kept)
    print(f"dev: {len(held)} in scope, {len(oos)} out of scope; top-1 {top1(idx, held):.1%}")
    hits_in = [(idx.search(q, 2), k) for q, k in held]
    hits_out = [idx.search(q, 2) for q in oos]

    def rates(answer_cov, sure_cov, margin):
        def answers(hits):
            if not hits:
                return None
            best, second = hits[0], hits[1] if len(hits) > 1 else None
            ratio = second.score / best.score if second else 0.0
            return best if best.coverage >= sure_cov or (best.coverage >= answer_cov and ratio <= margin) else None
        good = wrong = 0
        for hits, key in hits_in:
            a = answers(hits)
            if a:
                good += a.entry.key == key
                wrong += a.entry.key != key
        oos_wrong = sum(1 for hits in hits_out if answers(hits))
        return good / len(held), wrong / len(held), oos_wrong / len(oos)

    current = (kb_index.ANSWER_COVERAGE, kb_index.SURE_COVERAGE, kb_index.MARGIN_RATIO)
    print(f"{'answer':>7}{'sure':>6}{'margin':>7}{'right':>8}{'wrong':>8}{'oos':>7}")
    for a, s, m in itertools.product((0.2, 0.25, 0.3, 0.35, 0.4), (0.45, 0.55, 0.65, 0.75), (0.6, 0.7, 0.8, 0.9)):
        right, wrong, oosw = rates(a, s, m)
        mark = "  <- current" if (a, s, m) == current else ""
        print(f"{a:>7}{s:>6}{m:>7}{right:>8.1%}{wrong:>8.1%}{oosw:>7.1%}{mark}")


if __name__ == "__main__":
    main()
