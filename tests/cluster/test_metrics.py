"""The metric table and the hooks that record it, without Ray (the in-process registry).

What Prometheus sees on a real Ray cluster is tested in test_prometheus.py; that the dashboard
asks for these names, in tests/k8s/test_dashboard.py."""

from __future__ import annotations

import asyncio
import inspect
import json
import re

import pytest

from actors import metrics
from actors.metrics import METRICS, STAGES, local_value
from harnesses.model import Message, ModelError, ModelReply, ModelRequest
from harnesses.trace import CommandRecord, Tampering, Trace
from tests.conftest import ROOT, needs_bwrap


@pytest.fixture(autouse=True)
def fresh_registry():
    import ray

    if ray.is_initialized():  # an earlier test's Ray would take the records this module reads locally
        ray.shutdown()
    metrics.reset_local()
    yield
    metrics.reset_local()


def test_the_table_is_well_formed():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert re.fullmatch(r"selfharness_[a-z0-9_]+", m.name), m.name
        assert not m.name.endswith(("_total", "_bucket", "_sum", "_count")), m.name
        assert m.description and m.where
        if m.kind == "histogram":
            assert list(m.buckets) == sorted(set(m.buckets)) and m.buckets[0] > 0, m.name
        else:
            assert not m.buckets, m.name
    assert metrics.BY_NAME["selfharness_episodes"].exported == "ray_selfharness_episodes_total"
    assert metrics.exported_series(metrics.BY_NAME["selfharness_queue_depth"]) == ("ray_selfharness_queue_depth",)
    assert metrics.exported_series(metrics.BY_NAME["selfharness_episode_duration_s"]) == (
        "ray_selfharness_episode_duration_s_bucket", "ray_selfharness_episode_duration_s_sum",
        "ray_selfharness_episode_duration_s_count")


def test_recording_checks_names_kinds_and_tags():
    metrics.inc("selfharness_proposals", 2, decision="accepted")
    metrics.inc("selfharness_proposals", decision="accepted")
    metrics.inc("selfharness_proposals", 0, decision="rejected")
    assert local_value("selfharness_proposals", decision="accepted") == 3
    assert local_value("selfharness_proposals", decision="rejected") == 0
    metrics.set_gauge("selfharness_round", 2)
    metrics.set_gauge("selfharness_round", 3)
    assert local_value("selfharness_round") == 3
    metrics.observe("selfharness_sandbox_lease_wait_s", 0.05)
    metrics.observe("selfharness_sandbox_lease_wait_s", 1e6)
    count, total, buckets = local_value("selfharness_sandbox_lease_wait_s")
    assert count == 2 and total == pytest.approx(1e6 + 0.05) and buckets[2] == 1 and buckets[-1] == 1
    with pytest.raises(KeyError):
        metrics.inc("selfharness_nonesuch")
    with pytest.raises(TypeError):
        metrics.set_gauge("selfharness_proposals", 1, decision="accepted")
    with pytest.raises(ValueError):
        metrics.inc("selfharness_proposals", episode="x")
    with pytest.raises(ValueError):
        metrics.inc("selfharness_proposals", -1, decision="accepted")


def _trace(**kw) -> Trace:
    return Trace(**{"task": "t", "harness_id": "h1", "model": "m", "attempt": 0, "seed": 0, "split": "train",
                    "duration_s": 3.0, **kw})


def test_an_episode_records_its_outcome_duration_and_commands():
    cmds = [CommandRecord(turn=0, command="ls", exit_code=0, output="", duration_s=0.02),
            CommandRecord(turn=0, command="false", exit_code=1, output="", duration_s=0.2),
            CommandRecord(turn=1, command="sleep 9", exit_code=None, output="", duration_s=5.0, timed_out=True),
            CommandRecord(turn=1, command="again", exit_code=None, output="", blocked_by="loop breaker: same command")]
    metrics.record_episode(_trace(reward=1.0, commands=cmds))
    metrics.record_episode(_trace(reward=0.0))
    metrics.record_episode(_trace(infra_error="sandbox: gone", duration_s=0.0))
    for outcome in ("passed", "failed", "infra_error"):
        assert local_value("selfharness_episodes", split="train", outcome=outcome, harness="h1") == 1
    assert local_value("selfharness_episode_duration_s", split="train")[0] == 2  # an infra error without a clock
    assert [local_value("selfharness_command_duration_s", result=r)[0] for r in ("ok", "error", "timeout")] == [1, 1, 1]
    assert local_value("selfharness_commands_blocked") == 1


def test_a_tampering_episode_is_counted_as_tampering_and_as_failed():
    planted = [Tampering(path="/logs/verifier/reward.txt", change="planted", detail="file of 2 bytes"),
               Tampering(path="/tests/test.sh", change="changed")]
    metrics.record_episode(_trace(reward=1.0, tampering=planted))  # the planted reward never makes a pass
    metrics.record_episode(_trace(reward=1.0))
    metrics.record_episode(_trace(reward=0.0, split="val", tampering=planted[:1]))
    assert local_value("selfharness_verifier_tampering", split="train", harness="h1") == 1  # once per episode
    assert local_value("selfharness_verifier_tampering", split="val", harness="h1") == 1
    assert local_value("selfharness_episodes", split="train", outcome="failed", harness="h1") == 1
    assert local_value("selfharness_episodes", split="train", outcome="passed", harness="h1") == 1
    assert local_value("selfharness_episodes", split="train", outcome="infra_error", harness="h1") == 0
    assert metrics.BY_NAME["selfharness_verifier_tampering"].exported == "ray_selfharness_verifier_tampering_total"


def test_the_model_server_times_requests_and_counts_tokens_retries_errors(monkeypatch):
    from actors.model import server

    class Stub:
        name = "stub/m"

        def __init__(self):
            self.fail = False

        def complete(self, request):
            if self.fail:
                raise ModelError("down")
            return ModelReply(text="{}", model=self.name, prompt_tokens=100, completion_tokens=7,
                              events=("attempt 1: HTTP 429; waited 1s", "reply cut from 9 to 5 characters"))

    stub = Stub()
    monkeypatch.setattr(server, "build_model", lambda config, tasks: stub)
    s = server.ModelServer(None, [])
    request = ModelRequest(messages=(Message("user", "hi"),))
    s.complete(request)
    s.complete(request)
    stub.fail = True
    with pytest.raises(ModelError):
        s.complete(request)
    assert local_value("selfharness_model_request_duration_s", model="stub/m")[0] == 3
    assert local_value("selfharness_model_prompt_tokens", model="stub/m") == 200
    assert local_value("selfharness_model_completion_tokens", model="stub/m") == 14
    assert local_value("selfharness_model_retries", model="stub/m") == 2
    assert local_value("selfharness_model_errors", model="stub/m") == 1


def test_the_sandbox_pool_reports_its_size_and_busy_leases():
    from actors.sandbox.pool import SandboxPool

    async def go():
        pool = SandboxPool(3)
        assert local_value("selfharness_sandbox_pool_size") == 3
        a = await pool.acquire()
        await pool.acquire()
        assert local_value("selfharness_sandbox_pool_busy") == 2
        await pool.release(a)
        assert local_value("selfharness_sandbox_pool_busy") == 1

    asyncio.run(go())
    assert local_value("selfharness_sandbox_lease_wait_s")[0] == 2


def test_stages_are_the_controllers_phases():
    source = "".join((ROOT / "actors" / f).read_text() for f in ("controller.py", "approval_gate.py"))
    phases = set(re.findall(r"phase=\"(\w+)\"", source))
    assert phases == set(STAGES)
    metrics.record_stage("validate")
    metrics.record_stage("merge")
    assert {s: local_value("selfharness_stage", stage=s) for s in STAGES} == {s: float(s == "merge") for s in STAGES}


def test_replica_metrics_are_the_tables(monkeypatch):
    """ReplicaMetrics (actors/model/replica_metrics.py) makes its own ray.util.metrics: same names, kinds, tags,
    buckets."""
    import ray.util.metrics as ray_metrics

    from actors.model.replica_metrics import ReplicaMetrics

    made = {}

    def fake(kind, real):
        class Fake:
            def __init__(self, *args, **kw):
                bound = inspect.signature(real).bind(*args, **kw).arguments  # as Ray would read them
                made[bound["name"]] = (kind, tuple(bound.get("tag_keys") or ()), tuple(bound.get("boundaries") or ()))

            def set_default_tags(self, tags):
                return self

        return Fake

    for kind, cls in (("counter", "Counter"), ("gauge", "Gauge"), ("histogram", "Histogram")):
        monkeypatch.setattr(ray_metrics, cls, fake(kind, getattr(ray_metrics, cls)))
    ReplicaMetrics("llamacpp", "m", 0)
    table = {m.name: (m.kind, m.tags, tuple(float(b) for b in m.buckets))
             for m in METRICS if m.where == "ModelReplica"}
    assert {n: (k, t, tuple(float(b) for b in bs)) for n, (k, t, bs) in made.items()} == table


def test_a_finished_round_counts_its_decisions(tmp_path, minimal):
    from actors.controller import Controller
    from actors.records import RoundRecord, SplitScore
    from actors.run_dir import RunStore
    from cluster.config import RunConfig

    c = Controller(RunConfig().loop(), RunStore(tmp_path), None, None, None, minimal, log=lambda *_: None)
    no = SplitScore(split="train", harness_id=minimal.id, passed=0, episodes=0, infra_errors=0)
    rec = RoundRecord(round=1, harness_id=minimal.id, train=no, val=no, proposals=3, refused=1, accepted=1)
    c._finish_round(1, rec, minimal, minimal, ["r1p0"], [], "why", rejected=["r1p1", "r1p2"])
    assert [local_value("selfharness_proposals", decision=d) for d in metrics.DECISIONS] == [1, 2, 1]


@needs_bwrap
def test_the_bare_loop_records_episodes_round_and_stage(tmp_path):
    from actors.model.config import SimModelConfig
    from cluster.config import RunConfig
    from cluster.loop import open_run, run_loop_bare

    cfg = RunConfig(limit=2, attempts=1, rounds=1, k=2, concurrency=2, progress=False,
                    model=SimModelConfig(profile="glm"))
    run_loop_bare(cfg, open_run(cfg, str(tmp_path)))
    episodes = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    harnesses = {e["group"].split("/")[0] for e in episodes}
    recorded = {o: sum(local_value("selfharness_episodes", split=s, outcome=o, harness=h)
                       for s in ("train", "val", "test") for h in harnesses) for o in metrics.OUTCOMES}
    assert recorded["passed"] == sum(e["passed"] for e in episodes)
    assert sum(recorded.values()) == len(episodes)
    assert local_value("selfharness_round") == 1
    assert {s: local_value("selfharness_stage", stage=s) for s in STAGES} == {s: float(s == "done") for s in STAGES}
