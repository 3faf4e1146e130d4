"""`ray job submit` for real: a local head started with `ray start --head`, a short run submitted
with `--working-dir .`, SUCCEEDED, and the run directory holding the run's evidence."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, needs_bwrap

pytestmark = [pytest.mark.ray, needs_bwrap]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head in its own process group (`--block`), so ending it ends only this cluster; one for the
    module, as a user's cluster takes job after job (starting and stopping one costs about a minute)."""
    import ray

    tmp_path = tmp_path_factory.mktemp("head")
    if ray.is_initialized():
        ray.shutdown()
    port, dash = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", f"--port={port}",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--include-dashboard=true",
                             "--num-cpus=4", "--disable-usage-stats"],
                            env=env, stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # the job server answers once the dashboard is up
            ok = subprocess.run([str(BIN / "ray"), "job", "list", "--address", address], env=env,
                                capture_output=True, timeout=60).returncode == 0
            if ok:
                break
            assert proc.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(2)
        else:
            pytest.fail("the Ray head's job server never answered: " + (tmp_path / "head.log").read_text()[-2000:])
        yield address, {**env, "SELFHARNESS_TEST_GCS": f"127.0.0.1:{port}"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        forget_head(port)


def forget_head(port: int) -> None:
    """`ray start` records its head for later `ray.init()` calls to join; a killed head must not stay there."""
    from ray._private.utils import get_ray_address_file, read_ray_address

    if (read_ray_address(None) or "").endswith(f":{port}"):
        Path(get_ray_address_file(None)).unlink(missing_ok=True)


def test_ray_job_submit_runs_a_short_run(head, tmp_path):
    address, env = head
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump({"name": "job", "limit": 2, "attempts": 1, "rounds": 1, "k": 2,
                                      "concurrency": 2, "workers": 1, "model": {"kind": "sim", "profile": "glm"}}))
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(ROOT),
         "--runtime-env-json", json.dumps({"excludes": [".venv", "runs", ".git", ".pytest_cache", "*.pyc"]}),
         "--", sys.executable, "-m", "cluster.job", "--config", str(config), "--run-dir", str(run_dir)],
        env=env, capture_output=True, text=True, timeout=1200)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    job_id = re.search(r"Job '(raysubmit_\w+)' succeeded", log).group(1)
    status = subprocess.run([str(BIN / "ray"), "job", "status", "--address", address, job_id], env=env,
                            capture_output=True, text=True, timeout=120)
    assert f"{job_id}' succeeded" in status.stdout + status.stderr  # the CLI spells SUCCEEDED this way
    final = json.loads((run_dir / "final.json").read_text())
    assert final["initial"]["episodes"] == final["final"]["episodes"] == 2
    assert (run_dir / "rounds").is_dir() and list((run_dir / "traces").rglob("*.json"))
    assert f'"run_dir": "{run_dir}"' in log


def test_the_run_goes_on_when_its_driver_is_killed(head, tmp_path):
    """`ray job stop` kills the job's driver mid-run: the run's detached controller finishes it, `selfharness
    status` answers live from the controller, and the result is the one an undisturbed run reaches."""
    address, env = head
    cfg = {"name": "orphan", "limit": 4, "attempts": 2, "rounds": 1, "k": 2, "concurrency": 2, "workers": 1,
           "model": {"kind": "sim", "profile": "glm"}}
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [str(BIN / "ray"), "job", "submit", "--no-wait", "--address", address, "--working-dir", str(ROOT),
         "--runtime-env-json", json.dumps({"excludes": [".venv", "runs", ".git", ".pytest_cache", "*.pyc"]}),
         "--", sys.executable, "-m", "cluster.job", "--config", str(config), "--run-dir", str(run_dir)],
        env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    job_id = re.search(r"(raysubmit_\w+)", out.stdout + out.stderr).group(1)
    episodes = run_dir / "episodes.jsonl"
    deadline = time.monotonic() + 600
    while not (episodes.exists() and len(episodes.read_text().splitlines()) >= 4):
        assert time.monotonic() < deadline, "the run never started episodes"
        time.sleep(0.2)
    stop = subprocess.run([str(BIN / "ray"), "job", "stop", "--address", address, job_id], env=env,
                          capture_output=True, text=True, timeout=300)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    status = subprocess.run([str(BIN / "ray"), "job", "status", "--address", address, job_id], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "STOPPED" in status.stdout + status.stderr or "stopped" in status.stdout + status.stderr
    assert not (run_dir / "final.json").exists(), "the run ended before its driver was stopped: nothing tested"

    live_env = {**env, "RAY_ADDRESS": env["SELFHARNESS_TEST_GCS"]}
    live = subprocess.run([sys.executable, "-m", "cluster.cli", "status", str(run_dir), "--json"], cwd=ROOT,
                          env=live_env, capture_output=True, text=True, timeout=300)
    assert live.returncode == 0, live.stderr[-2000:]
    seen = json.loads(live.stdout)
    assert seen["alive"] and seen["round"] == 1 and seen["episodes_recorded"] >= 4, seen
    deadline = time.monotonic() + 900
    while not (run_dir / "final.json").exists():
        assert time.monotonic() < deadline, "the orphaned run never finished"
        time.sleep(1)
    final = json.loads((run_dir / "final.json").read_text())

    from cluster.config import RunConfig
    from cluster.loop import open_run, run_loop_bare

    reference = RunConfig(**{**cfg, "model": RunConfig().model.__class__(profile="glm"), "progress": False})
    expected = run_loop_bare(reference, open_run(reference, str(tmp_path / "reference")))
    assert final["final_id"] == expected.final_id and final["final"]["passed"] == expected.final.passed
    done = json.loads(subprocess.run([sys.executable, "-m", "cluster.cli", "status", str(run_dir), "--json"],
                                     cwd=ROOT, env=live_env, capture_output=True, text=True, timeout=300).stdout)
    assert done["done"] and done["stage"] == "done"
