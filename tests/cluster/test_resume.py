"""Kill the driver with SIGKILL in the middle of a validation stage, resume: the same final
harness as an uninterrupted run, and no finished episode run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

from cluster.config import RunConfig
from cluster.loop import open_run, run_loop_bare
from tests.conftest import ROOT, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.ray]

CONFIG = dict(name="resume", limit=6, attempts=2, rounds=2, k=3, model={"kind": "sim", "profile": "glm"},
              concurrency=2, workers=2, progress=False)


def cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "cluster.cli", *args], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_sigkill_during_validation_then_resume(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    run_dir = tmp_path / "run"
    driver = cli("run", "--config", str(config_file), "--run-dir", str(run_dir))
    rollout = 6 * 2 * 2  # round 1: train + val, 6 tasks each, 2 attempts
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = json.loads((run_dir / "state.json").read_text()) if (run_dir / "state.json").exists() else {}
        if state.get("phase") == "validate" and len(lines(run_dir / "episodes.jsonl")) >= rollout + 3:
            break
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    else:
        pytest.fail("the run never reached validation")
    os.kill(driver.pid, signal.SIGKILL)  # the driver only, mid-stage
    driver.wait()
    before = len(lines(run_dir / "episodes.jsonl"))
    assert not (run_dir / "final.json").exists()

    resumed = cli("resume", str(run_dir))
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-3000:]
    episodes = lines(run_dir / "episodes.jsonl")
    assert len(episodes) > before
    twice = [k for k, n in Counter((e["group"], e["episode_id"]) for e in episodes).items() if n > 1]
    assert not twice, f"episodes run twice: {twice[:5]}"

    reference = tmp_path / "reference"
    cfg = RunConfig(**{**CONFIG, "model": RunConfig().model.__class__(profile="glm")})
    expected = run_loop_bare(cfg, open_run(cfg, str(reference)))
    final = json.loads((run_dir / "final.json").read_text())
    assert final["final_id"] == expected.final_id
    assert final["final"]["passed"] == expected.final.passed
    def decision(path):  # when it was decided differs between the runs; what was decided must not
        return {k: v for k, v in json.loads(path.read_text()).items() if k != "decided_at"}

    for d in sorted((reference / "rounds").iterdir()):
        assert decision(d / "decision.json") == decision(run_dir / "rounds" / d.name / "decision.json")
    # an uninterrupted run would have run exactly as many episodes
    assert len(episodes) == len(lines(reference / "episodes.jsonl"))
