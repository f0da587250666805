"""Read the reports `rasa test nlu` and `rasa test core` write into a summary for the page."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_STORY = re.compile(r"^\s*-\s*story\s*:", re.M)


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


def core_summary(out: Path, story_dir: Path) -> dict[str, Any]:
    """How many test stories the model follows to the end, and its action accuracy."""
    total = sum(len(_STORY.findall(p.read_text(encoding="utf-8"))) for p in sorted(story_dir.glob("*.yml")))
    failed_file = out / "failed_test_stories.yml"
    failed = len(_STORY.findall(failed_file.read_text(encoding="utf-8"))) if failed_file.exists() else 0
    report = _json(out / "story_report.json") or {}
    weighted = report.get("weighted avg") or {}
    return {"ok": failed_file.exists() or bool(report), "stories": total, "failed": failed,
            "passed": max(total - failed, 0),
            "action_accuracy": round(float(report.get("accuracy", weighted.get("f1-score", 0)) or 0), 4)}
