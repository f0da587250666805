"""Hypothesis profiles of the fuzz tests: `ci` (default: derandomized, fast) and `long` (HYPOTHESIS_PROFILE=long)."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])
# ci: the same examples on every run (no flakes, no example database), ~150 per property
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, print_blob=True, **_COMMON)
# long: random, many more examples, for a fuzzing session by hand
settings.register_profile("long", max_examples=5000, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
