"""Small pieces of the admin console: roles, masking, login throttling, reports, charts, training log."""
from __future__ import annotations

import json
from pathlib import Path

from admin.services import charts

from admin.services import reports
from ground.roles import PERMISSIONS, can, mask_text, name_for, phone_for, sees_pii
from admin.services.training_jobs import Job
from admin.services.yamlrt import dump, load


def test_roles_and_personal_data() -> None:
    assert set(PERMISSIONS) == {"admin", "editor", "operator", "viewer"}
    assert can("admin", "users") and not can("editor", "users")
    assert can("editor", "flows") and can("editor", "kb") and not can("editor", "tickets.read")
    assert can("operator", "tickets.write") and not can("operator", "flows")
    assert can("viewer", "tickets.read") and not can("viewer", "tickets.write")
    assert not can(None, "dashboards") and not can("root", "dashboards")
    assert [r for r in PERMISSIONS if sees_pii(r)] == ["admin", "operator"]
    assert phone_for("viewer", "13812345678") == "138****5678"
    assert phone_for("operator", "13812345678") == "13812345678"
    assert name_for("viewer", "张三") == "张*" and name_for("admin", "张三") == "张三"


def test_mask_text_keeps_other_numbers() -> None:
    text = "工单20261126-000123，电话 138 1234 5678，门牌12号，我叫王小明"
    assert mask_text(text, ("王小明",)) == "工单20261126-000123，电话 138****5678，门牌12号，我叫王**"


def test_reports(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "intent_report.json").write_text(json.dumps({
        "greet": {"precision": 1, "recall": 1, "f1-score": 1.0, "support": 3}, "accuracy": 0.9,
        "weighted avg": {"f1-score": 0.88, "support": 10}}))
    (nlu / "intent_errors.json").write_text(json.dumps([{"text": "x"}]))
    assert reports.nlu_summary(nlu) == {"ok": True, "accuracy": 0.9, "f1": 0.88, "examples": 10, "errors": 1,
                                        "per_intent": {"greet": 1.0}}
    core = tmp_path / "core"
    core.mkdir()
    assert reports.core_summary(core)["ok"] is False  # rasa test core crashed: no report, no "all passed"
    (core / "story_report.json").write_text(json.dumps({
        "accuracy": 0.95, "conversation_accuracy": {"accuracy": 0.5, "correct": 1, "with_warnings": 0, "total": 2}}))
    assert reports.core_summary(core) == {"ok": True, "stories": 2, "failed": 1, "passed": 1, "action_accuracy": 0.95}
    assert reports.nlu_summary(tmp_path / "missing")["ok"] is False


def test_charts_are_svg_with_the_numbers() -> None:
    svg = charts.stacked_bars(["2026-10", "2026-11"], {"供暖": [1, 4], "噪音": [2, 0]}, "工单量")
    assert svg.startswith("<svg") and ">3<" in svg and ">4<" in svg and "供暖" in svg
    svg = charts.rate_lines(["2026-10", "2026-11"], {"一次解决率": [0.5, None]}, "率")
    assert "50.0%" in svg and "polyline" not in svg  # one point only: no line
    assert "暂无数据" in charts.stacked_bars([], {}, "空")


def test_training_log_keeps_one_line_per_epoch_bar() -> None:
    job = Job(id="j", author="ed")
    job.add("\x1b[32mINFO start\x1b[0m")
    job.add("Epochs:   1%|          | 1/100")
    job.add("Epochs:  50%|█████     | 50/100")
    job.add("done")
    job.add("Processed trackers:  10%|█ | 1/10")
    job.add("Processed trackers: 100%|██| 10/10")
    assert list(job.lines) == ["INFO start", "Epochs:  50%|█████     | 50/100", "done",
                               "Processed trackers: 100%|██| 10/10"] and job.percent == 50
    lines, nxt = job.since(1)
    assert lines == ["Epochs:  50%|█████     | 50/100", "done", "Processed trackers: 100%|██| 10/10"] and nxt == 4


def test_round_trip_yaml_keeps_layout() -> None:
    text = "# comment\nslots:\n  a:\n    mappings: [{type: custom}]\nrules:\n  - rule: x\n    steps:\n      - active_loop: null\n"
    assert dump(load(text), text) == text


def test_seat_run_serves_the_published_model(tmp_path: Path) -> None:
    from ground.rasa_models import model_to_serve, published_model

    assert published_model(tmp_path / "models") is None
    published = tmp_path / "models" / "published"
    published.mkdir(parents=True)
    (published / "candidate-1.tar.gz").write_bytes(b"model")
    (published / "current").write_text("candidate-1.tar.gz\n")
    assert published_model(tmp_path / "models") == published / "candidate-1.tar.gz"
    assert model_to_serve(tmp_path / "models") == published / "candidate-1.tar.gz"
    (published / "current").write_text("gone.tar.gz\n")  # a pointer to a missing file is ignored
    assert published_model(tmp_path / "models") is None


def test_mask_text_folds_full_width_digits_but_keeps_the_citizens_punctuation() -> None:
    text = "电话：１３８１２３４５６７８，座机（010）6234 5678。"
    masked = mask_text(text)
    assert "１３８１２３４５６７８" not in masked and "138****5678" in masked
    assert masked.startswith("电话：") and "，座机（010）" in masked and masked.endswith("。")
