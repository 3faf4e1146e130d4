"""Rollouts on a real local Ray cluster: ModelServer, SandboxPool and worker actors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from actors.model.config import SimModelConfig
from actors.run_dir import RunStore
from cluster.compose import run_rollout
from cluster.config import RolloutConfig
from harnesses.trace import load_trace
from tests.conftest import FIXTURE_SUITE, ROOT, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.ray]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    from cluster.ray_init import init_ray

    init_ray()
    yield
    ray.shutdown()


def config(**kw) -> RolloutConfig:
    base = dict(suite=str(FIXTURE_SUITE), split="train", attempts=3, concurrency=2, workers=2)
    base.update(kw)
    return RolloutConfig(**base)


@pytest.mark.parametrize("agent,rate", [("oracle", 1.0), ("noop", 0.0)])
def test_calibration_agents(ray_cluster, tmp_path, agent, rate):
    traces, summary = run_rollout(config(agent=agent), RunStore(tmp_path), progress=False)
    assert summary.episodes == 3 and summary.infra_errors == 0 and summary.pass_rate == rate
    assert len(list((tmp_path / "traces").rglob("*.json"))) == 3


def test_model_rollout_writes_traces_and_is_deterministic(ray_cluster, tmp_path):
    cfg = config(model=SimModelConfig(profile="minimax"), attempts=4)
    traces, summary = run_rollout(cfg, RunStore(tmp_path / "a"), progress=False)
    again, _ = run_rollout(cfg, RunStore(tmp_path / "b"), progress=False)
    assert summary.episodes == 4 and summary.infra_errors == 0
    key = lambda ts: sorted((t.episode_id, t.passed, len(t.turns)) for t in ts)  # noqa: E731
    assert key(traces) == key(again)
    saved = [load_trace(p) for p in (tmp_path / "a" / "traces").rglob("*.json")]
    assert {t.episode_id for t in saved} == {t.episode_id for t in traces}
    assert all(t.turns and t.model == "sim/minimax" for t in saved)


def test_cli_json_summary(tmp_path):
    env = dict(os.environ, RAY_ADDRESS="")
    env.pop("RAY_ADDRESS")
    out = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "rollout", "--suite", str(FIXTURE_SUITE), "--split", "train",
         "--agent", "oracle", "--attempts", "2", "--concurrency", "2", "--run-dir", str(tmp_path), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert {"pass_rate", "episodes", "passed", "infra_errors"} <= set(summary)
    assert summary["pass_rate"] == 1.0 and summary["episodes"] == 2
    assert (tmp_path / "summary.json").exists()
    # laid out as a run lays out its own: config.yaml, traces/<harness>/<split>/<episode>.json
    from cluster.config import RolloutConfig, load_run_config

    assert load_run_config(tmp_path, RolloutConfig).agent == "oracle"
    assert len(list((tmp_path / "traces" / "oracle" / "train").glob("*.json"))) == 2


def test_cli_names_a_bad_harness_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "harnesses" / "minimal.yaml").read_text().replace("max_turns: 30", "max_turns: many"))
    out = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "rollout", "--suite", str(FIXTURE_SUITE), "--harness", str(bad),
         "--run-dir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert str(bad) in out.stderr and "runtime.max_turns" in out.stderr
