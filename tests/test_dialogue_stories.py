"""Every path of the dialogue (tests/stories) is predicted by the trained policies: `rasa test core`."""
from __future__ import annotations

import subprocess
import sys

from ground.settings import REPO_ROOT


def test_rasa_test_core_passes_every_story(model_path, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "test", "core", "--stories", "tests/stories", "--model", str(model_path),
         "--out", str(tmp_path), "--fail-on-prediction-errors", "--no-plot"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    failed = (tmp_path / "failed_test_stories.yml")
    detail = failed.read_text(encoding="utf-8") if failed.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, detail
