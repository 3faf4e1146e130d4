"""The must-show numbers of the foundation, as tests on the real core suite.

- the oracle passes every task of every split and doing nothing passes none;
- for every sim profile the minimal harness scores at least 25 points below the
  profile's reference harness on `train` with 2 attempts, and the profile's failure
  families are visible in the minimal harness's traces.
"""

from __future__ import annotations

import pytest

from actors.model.config import SimModelConfig
from actors.model.sim import list_profiles, load_profile
from actors.rollout import summarize
from benchmarks.check import check_suite
from cluster.compose import prepare, run_rollout_bare
from cluster.config import RolloutConfig
from tests.conftest import CORE_SUITE, needs_bwrap

pytestmark = needs_bwrap


def test_core_suite_oracle_passes_everything_noop_nothing():
    report = check_suite(CORE_SUITE, concurrency=4, progress=False)
    assert report.ok, report.format()
    assert len(report.tasks) >= 48
    assert all(t.oracle_reward == 1.0 and t.noop_reward == 0.0 for t in report.tasks)
    assert {t.split for t in report.tasks} == {"train", "val", "test"}


@pytest.mark.parametrize("profile", list_profiles())
def test_minimal_is_far_below_the_reference(profile):
    rates = {}
    for harness in ("harnesses/minimal.yaml", f"harnesses/reference/{profile}.yaml"):
        config = RolloutConfig(split="train", harness=harness, attempts=2, concurrency=4,
                               model=SimModelConfig(profile=profile))
        _, tasks, spec = prepare(config)
        traces, _ = run_rollout_bare(config, tasks, spec)
        summary = summarize(traces)
        assert summary.infra_errors == 0, summary.by_cause
        rates[harness] = summary
    minimal, reference = rates.values()
    assert reference.pass_rate - minimal.pass_rate >= 0.25, (minimal.pass_rate, reference.pass_rate)
    strong = {q for q, quirk in load_profile(profile).quirks.items() if quirk.rate >= 0.3}
    assert strong <= set(minimal.by_family), (strong, minimal.by_family)
