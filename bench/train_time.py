"""Training time per component, and what it buys: configs trained from scratch, one after the other, in one command.

Each config is trained with `rasa train` (or `rasa train nlu` with --nlu-only) on this repository's data into a
temp dir with an EMPTY Rasa cache (RASA_CACHE_DIRECTORY in the temp dir: nothing is reused between runs nor taken
from .rasa/cache), the way a fresh clone trains. Per component the wall time comes from Rasa's own "Starting to
train / Finished training component" log lines; "other" is the rest of the wall time (imports, reading and
validating the data, the graph, packaging). Then every model parses the held-out split (nlu/test, never trained
on) for the intent macro-F1 and the value F1 (seat.evaluate, the same scoring as tests/test_nlu_quality.py), and
with --core-test `rasa test core` runs the test stories (tests/stories, as tests/test_dialogue_stories.py does).

The first config is the baseline: times are printed as ratios to it as well, because absolute times move with the
load of this shared 2-core box (the load average before and after each run is printed too). By default the
baseline is bench/train_baseline.yml (config.yml as it was before issue 15) and the candidate is config.yml.

    .venv/bin/python bench/train_time.py                       # baseline vs config.yml, full training
    .venv/bin/python bench/train_time.py --core-test --install --json results/train_time.json
    .venv/bin/python bench/train_time.py a.yml b.yml --nlu-only # any configs, NLU pipeline only
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
BASELINE = REPO_ROOT / "bench" / "train_baseline.yml"

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\S*\s.*?(Starting to train|Finished training) component '(\w+)'")


def component_seconds(log: str) -> dict[str, float]:
    """Wall seconds per trained component class (summed over its graph nodes) from a `rasa train` log."""
    started: dict[str, list[datetime]] = defaultdict(list)
    spent: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        when = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S")
        if m[2] == "Starting to train":
            started[m[3]].append(when)
        elif started[m[3]]:
            spent[m[3]] += (when - started[m[3]].pop()).total_seconds()
    return dict(spent)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def train(config: Path, out: Path, nlu_only: bool) -> tuple[Path, float, dict[str, float]]:
    """Train from scratch with an empty cache; (model, wall seconds, seconds per component)."""
    cmd = [sys.executable, "-m", "rasa", "train", *(["nlu"] if nlu_only else []), "--config", str(config),
           "--out", str(out), "--fixed-model-name", "model"]
    cmd += ["--nlu", "data/nlu"] if nlu_only else ["--domain", "domain.yml", "--data", "data"]
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(out / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "LOG_LEVEL": "INFO"}
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    (out / "train.log").write_text(log, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"training with {config} failed:\n{log[-3000:]}")
    parts = component_seconds(log)
    parts["other"] = max(0.0, seconds - sum(parts.values()))
    return out / "model.tar.gz", seconds, parts


def core_test(model: Path, out: Path) -> dict[str, int]:
    """`rasa test core` on tests/stories: stories and how many were predicted without an error."""
    subprocess.run([sys.executable, "-m", "rasa", "test", "core", "--stories", "tests/stories", "--model", str(model),
                    "--out", str(out), "--no-plot"], cwd=REPO_ROOT, capture_output=True, text=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))
    accuracy = report.get("conversation_accuracy", {})
    return {"stories": int(accuracy.get("total", 0)), "passed": int(accuracy.get("correct", 0))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path,
                        help="configs to compare, the first is the baseline (default: bench/train_baseline.yml config.yml)")
    parser.add_argument("--nlu-only", action="store_true", help="train the NLU pipeline only (no policies)")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    parser.add_argument("--core-test", action="store_true", help="also run the test stories on each model")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--install", action="store_true",
                        help="keep the model trained on config.yml as models/seat-<hash>.tar.gz (what `seat train` makes)")
    args = parser.parse_args(argv)
    from seat.evaluate import evaluate  # lazy: imports rasa

    configs = [c.resolve() for c in (args.configs or [BASELINE, REPO_ROOT / "config.yml"])]
    rows = []
    with tempfile.TemporaryDirectory(prefix="train-time-") as tmpdir:
        for i, config in enumerate(configs):
            out = Path(tmpdir) / f"run{i}"
            out.mkdir()
            load_before = load_average()
            print(f"training {config.relative_to(REPO_ROOT) if config.is_relative_to(REPO_ROOT) else config} "
                  f"(load {load_before}) ...", flush=True)
            model, seconds, parts = train(config, out, args.nlu_only)
            row = {"config": str(config), "seconds": round(seconds, 1), "components": parts,
                   "load_before": load_before, "load_after": load_average()}
            if not args.no_eval:
                report = asyncio.run(evaluate(model))
                row.update(intent_macro_f1=report.intent_macro_f1, intent_accuracy=report.intent_accuracy,
                           entity_f1=report.entity_f1)
            if args.core_test and not args.nlu_only:
                row["core_test"] = core_test(model, out / "core")
            rows.append(row)
            if args.install and not args.nlu_only and config == (REPO_ROOT / "config.yml").resolve():
                from ground.rasa_models import model_path

                target = model_path()
                target.parent.mkdir(exist_ok=True)
                shutil.copy2(model, target)
                print(f"model kept as {target}", flush=True)
            print(f"  {seconds:.0f} s, macro-F1 {row.get('intent_macro_f1', float('nan')):.3f}, "
                  f"load after {row['load_after']}", flush=True)
    base = rows[0]
    print(f"\n{'config':<26} {'train s':>8} {'x base':>7} {'macro-F1':>9} {'stories':>8}  seconds per component")
    for row in rows:
        parts = sorted(row["components"].items(), key=lambda kv: -kv[1])
        stories = row.get("core_test")
        print(f"{Path(row['config']).name:<26} {row['seconds']:>8.0f} {row['seconds'] / base['seconds']:>7.2f} "
              f"{row.get('intent_macro_f1', float('nan')):>9.3f} "
              f"{(str(stories['passed']) + '/' + str(stories['stories'])) if stories else '-':>8}  "
              + ", ".join(f"{k} {v:.0f}" for k, v in parts if v >= 1))
    print(f"load average now {load_average()} (2 cores; other work on the box counts in these times)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
