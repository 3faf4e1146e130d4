"""Faults on a real multi-node Ray cluster (`ray.cluster_utils.Cluster`: a head and two nodes of 2 CPUs):
a worker node killed in the middle of a rollout, of a validation stage and of pipeline start; the
controller, the model server and the sandbox pool actors killed. For each, `selfharness run` joins the
cluster through RAY_ADDRESS and must finish with every episode recorded once, no infrastructure error,
and the decisions and final harness of an undisturbed run. The table is printed at the end
(`pytest -s tests/cluster/test_faults.py`) and written to $SELFHARNESS_FAULT_TABLE when set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from cluster.config import RunConfig
from cluster.loop import open_run, run_loop_bare
from tests.conftest import FIXTURE_SUITE, ROOT, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.ray]

CONFIG = dict(name="faults", limit=6, attempts=2, rounds=2, k=3, model={"kind": "sim", "profile": "glm"},
              concurrency=6, workers=6, progress=False)
ROLLOUT = 6 * 2 * 2  # round 1: train + val, 6 tasks each, 2 attempts
ROWS: list[dict] = []


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4}})
    for _ in range(2):
        c.add_node(num_cpus=2)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield c
    ray.shutdown()
    c.shutdown()
    if ROWS:
        table = format_table(ROWS)
        print("\n" + table)
        if os.environ.get("SELFHARNESS_FAULT_TABLE"):
            Path(os.environ["SELFHARNESS_FAULT_TABLE"]).write_text(table + "\n")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same run, undisturbed, in one process."""
    path = tmp_path_factory.mktemp("reference") / "run"
    cfg = RunConfig(**{**CONFIG, "model": RunConfig().model.__class__(profile="glm")})
    report = run_loop_bare(cfg, open_run(cfg, str(path)))
    return path, report


def format_table(rows: list[dict]) -> str:
    head = f"{'fault':<34}{'episodes':>9}{'infra errors':>14}{'reruns':>8}{'run twice':>11}  same decisions"
    return "\n".join([head] + [f"{r['fault']:<34}{r['episodes']:>9}{r['infra']:>14}{r['reruns']:>8}{r['twice']:>11}"
                               f"  {'yes' if r['same'] else 'NO'}" for r in rows])


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def selfharness(cluster, *args) -> subprocess.Popen:
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    return subprocess.Popen([sys.executable, "-m", "cluster.cli", *args], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, proc, what: str, timeout_s: float = 300.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"the command ended before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    pytest.fail(f"never reached: {what}")


def controller(run_dir: Path):
    from cluster.controller import find_controller

    return find_controller(run_dir)


def pipeline_actor(run_dir: Path, name: str):
    import ray

    return ray.get(controller(run_dir).__ray_call__.remote(lambda self: getattr(self.loop.pipeline, name)))


def busy_nodes(run_dir: Path) -> set[str]:
    """The nodes whose rollout workers have episodes running now (asked of the run's controller)."""
    import ray

    handle = controller(run_dir) if run_dir is not None else None
    if handle is None:
        return set()
    return set(ray.get(handle.__ray_call__.remote(
        lambda self: [m.node_id for m in self.loop.pipeline.fleet.members if m.running]
        if self.loop.pipeline is not None else [])))


def kill_worker_node(cluster, run_dir: Path | None = None):
    """Kill a non-head node, one with episodes running when there is one (as a crash would: no graceful
    shutdown), and give the cluster a fresh node so the next test starts from three."""
    busy = busy_nodes(run_dir) if run_dir is not None else set()
    node = next((n for n in cluster.worker_nodes if n.node_id in busy), next(iter(cluster.worker_nodes)))
    cluster.remove_node(node, allow_graceful=False)
    cluster.add_node(num_cpus=2)


def in_rollout(run_dir: Path, n: int = 6):
    return lambda: state(run_dir).get("phase") == "rollout" and len(lines(run_dir / "episodes.jsonl")) >= n


def in_validation(run_dir: Path):
    return lambda: (state(run_dir).get("phase") == "validate"
                    and len(lines(run_dir / "episodes.jsonl")) >= ROLLOUT + 3)


FAULTS = {
    "none (control)": (None, None),
    "worker node, mid-rollout": (in_rollout, lambda c, d: kill_worker_node(c, d)),
    "worker node, mid-validation": (in_validation, lambda c, d: kill_worker_node(c, d)),
    "worker node, at pipeline start": (lambda d: lambda: controller(d) is not None
                                       and not (d / "episodes.jsonl").exists(), lambda c, d: kill_worker_node(c)),
    "controller actor, mid-validation": (in_validation, lambda c, d: __import__("ray").kill(controller(d),
                                                                                            no_restart=False)),
    "model server actor, mid-rollout": (in_rollout, lambda c, d: __import__("ray").kill(pipeline_actor(d, "server"),
                                                                                        no_restart=False)),
    "sandbox pool actor, mid-rollout": (in_rollout, lambda c, d: __import__("ray").kill(pipeline_actor(d, "pool"),
                                                                                        no_restart=False)),
}


def decision(path: Path) -> dict:  # when it was decided differs between runs; what was decided must not
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "decided_at"}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_run_loses_nothing(cluster, reference, tmp_path, fault):
    ref_dir, expected = reference
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    run_dir = tmp_path / "run"
    proc = selfharness(cluster, "run", "--config", str(config), "--run-dir", str(run_dir))
    when, act = FAULTS[fault]
    if when is not None:
        wait_until(when(run_dir), proc, fault)
        act(cluster, run_dir)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-4000:]

    episodes = lines(run_dir / "episodes.jsonl")
    twice = [k for k, n in Counter((e["group"], e["episode_id"]) for e in episodes).items() if n > 1]
    traces = list((run_dir / "traces").rglob("*.json"))
    retries = sum(json.loads(p.read_text()).get("infra_retries", 0) for p in traces)
    infra = sum(e["infra"] for e in episodes)
    final = json.loads((run_dir / "final.json").read_text())
    same = (final["final_id"] == expected.final_id and final["final"]["passed"] == expected.final.passed
            and all(decision(d / "decision.json") == decision(run_dir / "rounds" / d.name / "decision.json")
                    for d in sorted((ref_dir / "rounds").iterdir()))
            and len(episodes) == len(lines(ref_dir / "episodes.jsonl")))
    ROWS.append(dict(fault=fault, episodes=len(episodes), infra=infra, reruns=retries, twice=len(twice), same=same))
    assert not twice, f"episodes recorded twice: {twice[:5]}"
    assert len(traces) == len(episodes)
    assert infra == 0, [e for e in episodes if e["infra"]][:3]
    assert same, "the run's decisions differ from an undisturbed run's"


def test_a_rollout_loses_nothing_and_prints_only_json(cluster, tmp_path):
    """The reproduction: `selfharness rollout --json` on the cluster, a worker node killed once 6 traces are on
    disk: every episode finishes, none as an infrastructure error, and stdout is one JSON document."""
    run_dir = tmp_path / "rollout"
    proc = selfharness(cluster, "rollout", "--suite", "core", "--split", "train", "--model", "sim", "--harness",
                       "harnesses/minimal.yaml", "--attempts", "2", "--concurrency", "6", "--workers", "6", "--json",
                       "--run-dir", str(run_dir))
    wait_until(lambda: len(list((run_dir / "traces").rglob("*.json"))) >= 6, proc, "6 traces")
    kill_worker_node(cluster)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-4000:]
    summary = json.loads(out)  # nothing but the JSON on stdout
    traces = [json.loads(p.read_text()) for p in (run_dir / "traces").rglob("*.json")]
    ROWS.append(dict(fault="worker node, `selfharness rollout`", episodes=summary["episodes"],
                     infra=summary["infra_errors"], reruns=summary["infra_retries"], twice=0, same=True))
    assert summary["infra_errors"] == 0 and summary["episodes"] == len(traces) > 6
    assert summary["infra_retries"] == sum(t["infra_retries"] for t in traces)


def test_workers_spread_by_capacity_and_grow_when_a_node_joins(cluster):
    """6 slots on three 2-CPU nodes land 2/2/2; with room for fewer slots than asked, a node that joins gets
    workers at the next refresh, without a restart."""
    from actors.model.config import SimModelConfig
    from actors.sandbox.config import LocalSandboxConfig
    from cluster.compose import RolloutPipeline
    from harnesses.tasks import load_suite

    import ray

    def idle():  # the last test's node is gone and its actors' CPU is back
        alive = [n for n in ray.nodes() if n["Alive"]]
        return len(alive) == 3 and ray.available_resources().get("CPU", 0) == ray.cluster_resources().get("CPU")

    def wait_idle():
        deadline = time.monotonic() + 60
        while not idle() and time.monotonic() < deadline:
            time.sleep(0.2)

    wait_idle()
    tasks = load_suite(FIXTURE_SUITE).split("train")
    pipe = RolloutPipeline(tasks, model=SimModelConfig(), sandbox=LocalSandboxConfig(), agent="oracle",
                           concurrency=6, workers=6)
    try:
        assert sorted(c["slots"] for c in pipe.placement().values()) == [2, 2, 2]
        assert sorted(c["workers"] for c in pipe.placement().values()) == [2, 2, 2]
    finally:
        pipe.close()
    # 1 CPU per sandbox: three nodes of 2 CPUs hold 6 of the 8 slots asked for
    wait_idle()  # the killed workers' CPU comes back a moment after close
    pipe = RolloutPipeline(tasks, model=SimModelConfig(), sandbox=LocalSandboxConfig(cpus=1.0), agent="oracle",
                           concurrency=8, workers=8)
    node = None
    try:
        assert sum(c["slots"] for c in pipe.placement().values()) == 6
        node = cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        pipe.fleet.refresh(force=True)
        placed = pipe.placement()
        assert sum(c["slots"] for c in placed.values()) == 8 and placed[node.node_id]["slots"] == 2
    finally:
        pipe.close()
        if node is not None:
            cluster.remove_node(node)
