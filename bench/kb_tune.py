"""Choose the knowledge base's weights and answer thresholds on a development set, never on the held-out set.

    python bench/kb_tune.py [--weights | --confidence [--quick] [--no-write] [--features a,b,...]]

Development set (bench/kb_dev/): each entry's last paraphrase taken out of the index and asked as a
question, the story-style questions of in_scope.yml (never in the entries) and the questions of
out_of_scope.yml. Prints top-1 accuracy, then answered-correctly / wrong-answer rates (last paraphrases,
stories, out of scope) over a grid of the former answer rule's thresholds (coverage, sure coverage, margin,
fit; nlu/kb_index.py), for comparison with the confidence model that answers now. `--weights` first
prints top-1 over a grid of the index's field weights (question, answer, topic) and BM25 parameters.
`--confidence` fits the answer-confidence model (nlu/kb_confidence.py) instead: top-1 over the character
centroid's weight, then a logistic regression over the best hit's features with 5-fold cross-validation
(the thresholds are chosen on the held-out folds' probabilities: most right answers minus five times the
wrong ones, out-of-scope wrong answers counted twice since they are the easier ones to avoid; the weight of
an out-of-scope question in the fit is chosen the same way), and writes the weights and the answer threshold
into nlu/kb_confidence.py (`--no-write`: print them only; `--features`: compare a fit over other features,
never written).
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

from nlu import kb_index
from ground.store.knowledge import read_kb_files  # noqa: E402

DEV_DIR = REPO / "bench" / "kb_dev"
# an out-of-scope question weighs this many in-scope ones when fitting confidence; the cross-validated score
# chooses among them (5 was the only one with 64 out-of-scope questions; 262 now, most of them near ones)
OOS_SAMPLE_WEIGHTS = (1.0, 2.0, 5.0)
CONFIDENCE_FILE = REPO / "nlu" / "kb_confidence.py"


def _queries(name: str) -> list[tuple[str, str | None]]:
    data = yaml.safe_load((DEV_DIR / name).read_text(encoding="utf-8")) or {}
    return [(str(q["text"]), q.get("expect")) for q in data.get("queries") or []]


def dev_set():
    """(entries without their last paraphrase, [(question, key)] in scope, [question] out of scope)."""
    entries = read_kb_files()
    held, kept = [], []
    for e in entries:
        if len(e.paraphrases) >= 2 and e.status == "active":
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


def featured(idx: kb_index.KbIndex, question: str):
    """(best entry key or None, whether decide() may answer it at all, its confidence features)."""
    found, context = idx._search(question, 2)
    if not found:
        return None, False, None
    best, second = found[0], found[1] if len(found) > 1 else None
    keys = kb_index.key_terms(question)
    allowed = bool(keys) and kb_index.shares_key_entity(question, best.entry, keys)
    return best.entry.key, allowed, idx.features(best, second, context, keys)


def confidence_fit(kept, held, oos, full: bool = True, write: bool = True, features: tuple[str, ...] | None = None) -> None:
    """Centroid weight on top-1, then the confidence model with cross-validation, then its thresholds."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from nlu import kb_confidence

    saved = kb_index.CENTROID_WEIGHT
    for weight in (0.0, 1.0) if full else ():
        kb_index.CENTROID_WEIGHT = weight
        print(f"centroid weight {weight}: dev top-1 {top1(kb_index.KbIndex(kept), held):.1%}", flush=True)
    kb_index.CENTROID_WEIGHT = saved
    idx = kb_index.KbIndex(kept)
    rows = [(featured(idx, q), k) for q, k in held] + [(featured(idx, q), None) for q in oos]
    rows = [(r, k) for r, k in rows if r[2] is not None]
    features = features or kb_confidence.FEATURES
    if features != kb_confidence.FEATURES:
        write = False  # a comparison over other features never replaces the model the seat uses
    X = np.array([[f[name] for name in features] for (_, _, f), _ in rows])
    y = np.array([int(key == k) for (key, _, _), k in rows])
    allowed = np.array([a for (_, a, _), _ in rows])
    inside = np.array([k is not None for _, k in rows])
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    print(f"dev rows: {n_in} in scope, {n_out} out of scope; top-1 of the rows {y[inside].mean():.1%}")
    print(f"features: {', '.join(features)}")
    folds = list(StratifiedKFold(5, shuffle=True, random_state=7).split(X, y * 2 + inside))
    best = None
    for oos_weight in OOS_SAMPLE_WEIGHTS:
        weight = np.where(inside, 1.0, oos_weight)  # few out-of-scope questions, each a costly mistake
        probs = np.zeros(len(rows))
        for train, test in folds:
            model = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], y[train], sample_weight=weight[train])
            probs[test] = model.predict_proba(X[test])[:, 1]
        print(f"out-of-scope sample weight {oos_weight}, cross-validated:")
        print(f"{'answer from':>12}{'right':>8}{'wrong in':>9}{'wrong out':>10}{'score':>7}")
        for threshold in np.arange(0.30, 0.99, 0.02):
            answered = allowed & (probs >= threshold)
            right = int((answered & (y == 1)).sum())
            wrong_in = int((answered & (y == 0) & inside).sum())
            wrong_out = int((answered & ~inside).sum())
            score = right - 5 * wrong_in - 10 * wrong_out
            print(f"{threshold:>12.2f}{right / n_in:>8.1%}{wrong_in / n_in:>9.1%}{wrong_out / n_out:>10.1%}{score:>7}")
            if best is None or score > best[0]:
                best = (score, round(float(threshold), 2), oos_weight, right / n_in, wrong_in / n_in, wrong_out / n_out)
    score, threshold, oos_weight, right, wrong_in, wrong_out = best
    weight = np.where(inside, 1.0, oos_weight)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(X, y, sample_weight=weight)
    weights = {"intercept": round(float(model.intercept_[0]), 3),
               **{n: round(float(w), 3) for n, w in zip(features, model.coef_[0])}}
    print(f"chosen: out-of-scope sample weight {oos_weight}, answer from {threshold:.2f}: cross-validated right "
          f"{right:.1%}, wrong in scope {wrong_in:.1%}, wrong out of scope {wrong_out:.1%} (score {score})")
    print(f"WEIGHTS = {weights}")
    print(f"ANSWER_CONFIDENCE = {threshold:.2f}")
    if write:
        write_confidence(weights, threshold)
        print(f"written to {CONFIDENCE_FILE.relative_to(REPO)} (CLARIFY_CONFIDENCE stays "
              f"{kb_confidence.CLARIFY_CONFIDENCE:.2f}: it is not fitted)")
    else:
        print("not written (--no-write): paste the two lines above into nlu/kb_confidence.py")


def write_confidence(weights: dict[str, float], threshold: float) -> None:
    """Replace WEIGHTS and ANSWER_CONFIDENCE in nlu/kb_confidence.py with the fitted ones (the rest stays)."""
    import re

    text = CONFIDENCE_FILE.read_text(encoding="utf-8")
    items = [f'"{k}": {v}' for k, v in weights.items()]
    lines, line = [], "WEIGHTS = {"
    for i, item in enumerate(items):
        piece = item + ("}" if i == len(items) - 1 else ", ")
        if len(line) + len(piece) > 118:
            lines.append(line.rstrip())
            line = "           "
        line += piece
    lines.append(line)
    text, n = re.subn(r"^WEIGHTS = \{.*?\}$", lambda _: "\n".join(lines), text, count=1, flags=re.S | re.M)
    text, m = re.subn(r"^ANSWER_CONFIDENCE = [0-9.]+", f"ANSWER_CONFIDENCE = {threshold:.2f}", text, count=1, flags=re.M)
    if n != 1 or m != 1:
        raise SystemExit(f"could not find WEIGHTS / ANSWER_CONFIDENCE in {CONFIDENCE_FILE}")
    CONFIDENCE_FILE.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", action="store_true", help="grid over field weights first")
    ap.add_argument("--confidence", action="store_true", help="fit the answer-confidence model (and stop)")
    ap.add_argument("--quick", action="store_true", help="with --confidence: skip the centroid-weight grid")
    ap.add_argument("--features", help="with --confidence: fit over these features only (comma-separated; never written)")
    ap.add_argument("--no-write", action="store_true", help="with --confidence: print the fit, leave nlu/kb_confidence.py")
    args = ap.parse_args()
    kept, held, oos = dev_set()
    if args.confidence:
        confidence_fit(kept, held, oos, full=not args.quick, write=not args.no_write,
                       features=tuple(args.features.split(",")) if args.features else None)
        return
    if args.weights:
        weight_grid(kept, held)
    idx = kb_index.KbIndex(kept)
    n_llo = len(held) - len([1 for _, k in _queries("in_scope.yml") if k])
    sets = {"last": held[:n_llo], "story": held[n_llo:]}
    print(f"dev: {len(held)} in scope ({n_llo} last paraphrases, {len(held) - n_llo} stories), {len(oos)} out of scope; "
          f"top-1 {top1(idx, held):.1%} (last {top1(idx, sets['last']):.1%}, stories {top1(idx, sets['story']):.1%})")
    def looked_up(q):
        """The two best hits and what decide() checks before any threshold: the question names something
        (key entities) and the best entry shares one of them."""
        found = idx.search(q, 2)
        keys = kb_index.key_terms(q)
        return found, bool(keys), bool(found) and kb_index.shares_key_entity(q, found[0].entry, keys)

    hits = {name: [(looked_up(q), k) for q, k in qs] for name, qs in sets.items()}
    hits_out = [looked_up(q) for q in oos]

    def answers(looked, answer_cov, sure_cov, margin, fit):
        """decide()'s answer rule (nlu/kb_index.py) with the given thresholds."""
        found, names_something, shares = looked
        if not found or not shares or not names_something:
            return None
        best, second = found[0], found[1] if len(found) > 1 else None
        ratio = second.score / best.score if second else 0.0
        clear = ratio <= margin and (best.coverage >= answer_cov or best.fit >= fit)
        return best if best.coverage >= sure_cov or clear else None

    def rates(hh, *thresholds):
        answered = [(answers(found, *thresholds), key) for found, key in hh]
        good = sum(1 for a, key in answered if a and a.entry.key == key)
        return good / len(hh), sum(1 for a, _ in answered if a) / len(hh) - good / len(hh)

    current = (kb_index.ANSWER_COVERAGE, kb_index.SURE_COVERAGE, kb_index.MARGIN_RATIO, kb_index.ANSWER_FIT)
    print(f"{'answer':>7}{'sure':>6}{'margin':>7}{'fit':>6}{'last right':>11}{'wrong':>7}{'story right':>12}{'wrong':>7}{'oos':>7}")
    grid = itertools.product((0.3, 0.35, 0.4, 0.45, 0.5, 0.55), (0.65, 0.75, 0.85, 0.9, 0.95), (0.6, 0.7, 0.8, 0.9),
                             (0.5, 0.6, 0.7, 0.8, 1.01))
    for thresholds in grid:
        (lr, lw), (sr, sw) = rates(hits["last"], *thresholds), rates(hits["story"], *thresholds)
        oosw = sum(1 for found in hits_out if answers(found, *thresholds)) / len(oos)
        mark = "  <- current" if thresholds == current else ""
        print("".join(f"{t:>{w}}" for t, w in zip(thresholds, (7, 6, 7, 6)))
              + f"{lr:>11.1%}{lw:>7.1%}{sr:>12.1%}{sw:>7.1%}{oosw:>7.1%}{mark}")


if __name__ == "__main__":
    main()
