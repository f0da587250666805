"""Simulated citizens (the shared evaluation kit) against the running stack on the test database."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from ground.settings import REPO_ROOT

EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
SIMULATOR = EVAL_DIR / "simulate_citizen.py"
OWN_SCENARIOS = sorted((REPO_ROOT / "tests" / "scenarios").glob("*.yml"))  # two authors, written apart
RESULTS = REPO_ROOT / "results"  # transcripts of every simulated conversation, for reading failures


def simulate(stack, scenarios: Path, report: Path) -> list[dict]:
    report.parent.mkdir(exist_ok=True)
    if not SIMULATOR.exists():
        pytest.skip(f"the shared evaluation kit is not beside the repo ({EVAL_DIR})")
    subprocess.run(
        [sys.executable, str(SIMULATOR), "--url", stack.rest_url, "--db", stack.database_url,
         "--scenarios", str(scenarios), "--report", str(report)],
        capture_output=True, text=True, timeout=1800,
    )
    return json.loads(report.read_text(encoding="utf-8"))


def failures(results: list[dict]) -> list[str]:
    return [f"{r['id']}: {'; '.join(r['problems'])}" for r in results if not r["passed"]]


def test_every_public_scenario_passes(stack):
    results = simulate(stack, EVAL_DIR / "scenarios_public.yml", RESULTS / "scenarios_public.json")
    assert results and not failures(results), failures(results)


def test_own_scenarios_pass_and_tickets_take_few_turns(stack):
    results = [r for path in OWN_SCENARIOS for r in simulate(stack, path, RESULTS / f"scenarios_{path.stem}.json")]
    assert len(results) >= 30
    passed = [r for r in results if r["passed"]]
    rate = len(passed) / len(results)
    print(f"own scenarios: {len(passed)}/{len(results)} passed ({rate:.0%})")
    assert rate >= 0.90, failures(results)
    turns = statistics.median(r["turns"] for r in passed)
    print(f"median turns to a confirmed ticket: {turns}")
    assert turns <= 6
