"""Read the reports `rasa test nlu` and `rasa test core` write into a summary for the page."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def nlu_summary(out: Path) -> dict[str, Any]:
    """Intent accuracy, weighted F1 and the number of misclassified test messages."""
    report = _json(out / "intent_report.json")
    if not isinstance(report, dict):
        return {"ok": False, "error": "没有生成 intent_report.json"}
    weighted = report.get("weighted avg") or {}
    errors = _json(out / "intent_errors.json") or []
    support = int(weighted.get("support") or 0)
    per_intent = {k: round(float(v.get("f1-score", 0)), 3) for k, v in report.items()
                  if isinstance(v, dict) and k not in ("micro avg", "macro avg", "weighted avg")}
    return {"ok": True, "accuracy": round(float(report.get("accuracy", weighted.get("f1-score", 0))), 4),
            "f1": round(float(weighted.get("f1-score", 0)), 4), "examples": support,
            "errors": len(errors), "per_intent": per_intent}


def core_summary(out: Path) -> dict[str, Any]:
    """How many test stories the model follows to the end, and its action accuracy (story_report.json)."""
    report = _json(out / "story_report.json")
    if not isinstance(report, dict):
        return {"ok": False, "error": "rasa test core 没有生成报告（见训练日志）"}
    conv = report.get("conversation_accuracy") or {}
    total, correct = int(conv.get("total", 0)), int(conv.get("correct", 0))
    accuracy = report.get("accuracy")
    if not isinstance(accuracy, (int, float)):
        accuracy = (report.get("micro avg") or report.get("weighted avg") or {}).get("f1-score", 0)
    return {"ok": True, "stories": total, "passed": correct, "failed": total - correct,
            "action_accuracy": round(float(accuracy or 0), 4)}
