"""How sure the knowledge base is of its best entry: a logistic model over a few features of the ranking.

The features (`FEATURES`) are read by `KbIndex.features()`: coverage of the question, fit of the closest
phrasing, the character centroid's cosine and its lead over the next entry's, the fused score's margin
over the runner-up, BM25's own margin, whether BM25 and the character view agree on the entry, the share of
the question's key entities the entry holds, whether the runner-up is of the same topic, and two for near
questions (same topic, another qualifier): the share of the question's key terms the entry neither asks nor
tells about (`key_unanswered`) and the share of the entry's telling core terms the question lacks
(`core_missing`, "退休" for "退休后公积金怎么提取"). The
weights and thresholds are data chosen by `bench/kb_tune.py --confidence` on the development set
(bench/kb_dev, never bench/kb_eval): the model is fitted with cross-validation there, and the thresholds
give the most right answers minus five times the wrong ones (out-of-scope questions included);
`bench/kb_tune.py --confidence` writes WEIGHTS and ANSWER_CONFIDENCE below itself.
"""
from __future__ import annotations

import math

FEATURES = ("coverage", "fit", "cosine", "cosine_lead", "margin", "bm25_margin", "agree", "key_share", "same_topic",
            "key_unanswered", "core_missing")

# fitted by bench/kb_tune.py --confidence on bench/kb_dev (see its output); intercept first
WEIGHTS = {"intercept": -0.06, "coverage": -1.071, "fit": 1.518, "cosine": -1.295, "cosine_lead": 0.872,
           "margin": 2.629, "bm25_margin": 0.781, "agree": 0.477, "key_share": 0.418, "same_topic": 0.28,
           "key_unanswered": -3.66, "core_missing": -0.368}
ANSWER_CONFIDENCE = 0.72   # answer outright from this confidence on (and only if the question names something)
CLARIFY_CONFIDENCE = 0.30  # ask "您是想问…，对吗？" from this on (or when the old coverage floor is met)


def confidence(features: dict[str, float], weights: dict[str, float] | None = None) -> float:
    """The probability that the best entry is the right one."""
    weights = WEIGHTS if weights is None else weights
    z = weights["intercept"] + sum(weights[name] * features[name] for name in FEATURES)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
