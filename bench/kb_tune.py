"""Choose the knowledge base's answer thresholds on a development set, never on the held-out set.

    python bench/kb_tune.py

Development set: each entry's last paraphrase is taken out of the index and asked as a question,
plus bench/kb_dev/out_of_scope.yml. Prints answered-correctly / wrong-answer rates over a grid of
thresholds, so the constants in seat/kb/index.py can be set (and checked) from data.
"""
from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seat.kb import index as kb_index  # noqa: E402
from seat.kb.repository import read_kb_files  # noqa: E402


def dev_set():
    entries = read_kb_files()
    held, kept = [], []
    for e in entries:
        if len(e.paraphrases) >= 2:
            held.append((e.paraphrases[-1], e.key))
            kept.append(replace(e, paraphrases=e.paraphrases[:-1]))
        else:
            kept.append(e)
    oos = [q["text"] for q in yaml.safe_load((REPO / "bench/kb_dev/out_of_scope.yml").read_text(encoding="utf-8"))["queries"]]
    return kept, held, oos


def main() -> None:
    kept, held, oos = dev_set()
    idx = kb_index.KbIndex(kept)
    top1 = sum(1 for q, k in held if (h := idx.search(q, 1)) and h[0].entry.key == k) / len(held)
    print(f"dev: {len(held)} held-out paraphrases, {len(oos)} out of scope; top-1 {top1:.1%}")
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

    print(f"{'answer':>7}{'sure':>6}{'margin':>7}{'right':>8}{'wrong':>8}{'oos':>7}")
    for a, s, m in itertools.product((0.15, 0.2, 0.25, 0.3, 0.35), (0.45, 0.55, 0.65), (0.6, 0.7, 0.8)):
        right, wrong, oosw = rates(a, s, m)
        print(f"{a:>7}{s:>6}{m:>7}{right:>8.1%}{wrong:>8.1%}{oosw:>7.1%}")


if __name__ == "__main__":
    main()
