"""Evaluate the trained model on the held-out split: intent macro-F1 and entity value F1.

    python -m seat.evaluate [--model models/seat-<hash>.tar.gz] [--out results/nlu_eval.json]

Entities are scored on normalised values (e.g. phone digits), per type: a predicted (type, value) pair
is a true positive when the example carries the same pair.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ground.settings import REPO_ROOT

TEST_DIR = REPO_ROOT / "nlu" / "test"
ENTITY_TYPES = ("district", "street", "phone", "ticket_no")


@dataclass
class Report:
    """What the evaluation found."""

    intent_macro_f1: float
    intent_accuracy: float
    per_intent: dict[str, dict[str, float]]
    entity_f1: dict[str, float]
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__


def f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


def score(examples: Iterable[tuple[str, str, set, str, set]]) -> Report:
    """examples: (text, gold intent, gold entities, predicted intent, predicted entities)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    ent: dict[str, Counter] = defaultdict(Counter)
    errors, total, correct = [], 0, 0
    for text, gold, gold_ents, pred, pred_ents in examples:
        total += 1
        if gold == pred:
            correct += 1
            counts[gold]["tp"] += 1
        else:
            counts[gold]["fn"] += 1
            counts[pred]["fp"] += 1
            errors.append({"text": text, "gold": gold, "predicted": pred})
        for etype in ENTITY_TYPES:
            g = {v for t, v in gold_ents if t == etype}
            p = {v for t, v in pred_ents if t == etype}
            ent[etype]["tp"] += len(g & p)
            ent[etype]["fp"] += len(p - g)
            ent[etype]["fn"] += len(g - p)
            if g != p:
                errors.append({"text": text, "entity": etype, "gold": sorted(g), "predicted": sorted(p)})
    per_intent = {
        name: {"f1": round(f1(c["tp"], c["fp"], c["fn"]), 4), "support": c["tp"] + c["fn"]}
        for name, c in sorted(counts.items()) if c["tp"] + c["fn"]
    }
    macro = sum(v["f1"] for v in per_intent.values()) / max(1, len(per_intent))
    return Report(
        intent_macro_f1=round(macro, 4),
        intent_accuracy=round(correct / max(1, total), 4),
        per_intent=per_intent,
        entity_f1={e: round(f1(c["tp"], c["fp"], c["fn"]), 4) for e, c in ent.items() if c["tp"] + c["fn"]},
        errors=errors,
    )


def _gold(message) -> tuple[str, set]:
    intent = message.get("intent")
    ents = {(e["entity"], str(e.get("value", ""))) for e in message.get("entities") or []}
    return intent, ents


async def evaluate(model: Path, test_dir: Path = TEST_DIR) -> Report:
    """Parse every held-out example with the trained model and score it."""
    from rasa.core.agent import Agent  # lazy: rasa takes seconds to import; `--help` should not wait
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(str(model))
    data = load_data(str(test_dir))
    rows = []
    for message in data.training_examples:
        text = message.get("text")
        gold_intent, gold_ents = _gold(message)
        parsed = await agent.parse_message(text)
        pred_ents = {(e["entity"], str(e.get("value"))) for e in parsed.get("entities") or [] if e["entity"] in ENTITY_TYPES}
        rows.append((text, gold_intent, gold_ents, (parsed.get("intent") or {}).get("name"), pred_ents))
    return score(rows)


def main() -> None:
    from ground.rasa_models import ensure_model  # lazy: imports rasa (slow start)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "nlu_eval.json")
    args = ap.parse_args()
    report = asyncio.run(evaluate(args.model or ensure_model()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"intent macro-F1 {report.intent_macro_f1:.3f}  accuracy {report.intent_accuracy:.3f}")
    for name, v in report.per_intent.items():
        print(f"  {name:<18} F1 {v['f1']:.3f}  n={v['support']}")
    print("entity value F1: " + "  ".join(f"{k} {v:.3f}" for k, v in report.entity_f1.items()))
    print(f"details: {args.out}")


if __name__ == "__main__":
    main()
