"""Quality bars of the trained NLU on the held-out split (nlu/test, never trained on)."""
from __future__ import annotations

import asyncio
import json

import pytest

from seat.evaluate import TEST_DIR, evaluate
from ground.settings import REPO_ROOT


@pytest.fixture(scope="module")
def report(model_path):
    result = asyncio.run(evaluate(model_path))
    out = REPO_ROOT / "results" / "nlu_eval.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def test_held_out_split_is_not_in_training():
    from rasa.shared.nlu.training_data.loading import load_data

    train = {m.get("text") for m in load_data(str(REPO_ROOT / "nlu" / "data")).training_examples}
    test = [m.get("text") for m in load_data(str(TEST_DIR)).training_examples]
    assert len(test) >= 0.2 * len(train)
    assert not set(test) & train


def test_intent_macro_f1(report):
    assert report.intent_macro_f1 >= 0.92, [e for e in report.errors if "entity" not in e][:30]


def test_district_and_phone_extraction_f1(report):
    assert report.entity_f1["district"] >= 0.95, [e for e in report.errors if e.get("entity") == "district"]
    assert report.entity_f1["phone"] >= 0.95, [e for e in report.errors if e.get("entity") == "phone"]
