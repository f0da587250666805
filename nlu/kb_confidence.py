"""How sure the knowledge base is of its best entry: a logistic model over a few features of the ranking.

The features (`FEATURES`) are read by `KbIndex.features()`: coverage of the question, fit of the closest
phrasing, the character centroid's cosine and its lead over the next entry's, the fused score's margin
over the runner-up, BM25's own margin, and whether BM25 and the character view agree on the entry. The
weights and thresholds are data chosen by `bench/kb_tune.py --confidence` on the development set
(bench/kb_dev, never bench/kb_eval): the model is fitted with cross-validation there, and the thresholds
give the most right answers minus five times the wrong ones (out-of-scope questions included).
"""
from __future__ import annotations

import math

FEATURES = ("coverage", "fit", "cosine", "cosine_lead", "margin", "bm25_margin", "agree", "key_share", "same_topic")

# fitted by bench/kb_tune.py --confidence on bench/kb_dev (see its output); intercept first
WEIGHTS = {"intercept": -3.6, "coverage": -1.077, "fit": 3.093, "cosine": 1.514, "cosine_lead": 1.227, "margin": 2.101,
           "bm25_margin": 1.114, "agree": 0.182, "key_share": 1.951, "same_topic": 0.807}
ANSWER_CONFIDENCE = 0.76   # answer outright from this confidence on (and only if the question names something)
CLARIFY_CONFIDENCE = 0.30  # ask "您是想问…，对吗？" from this on (or when the old coverage floor is met)


def confidence(features: dict[str, float], weights: dict[str, float] | None = None) -> float:
    """The probability that the best entry is the right one."""
    weights = WEIGHTS if weights is None else weights
    z = weights["intercept"] + sum(weights[name] * features[name] for name in FEATURES)
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
