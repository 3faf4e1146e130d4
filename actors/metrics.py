"""Prometheus metrics of a run: one table names every metric, a few plain calls record them.

`METRICS` is the single list of what the system exports: name, type, description, tag
keys, histogram buckets and where it is recorded. The Grafana dashboard
(`k8s/grafana/self-harness.json`) is tested against it (`tests/k8s/test_dashboard.py`).

Where a metric lands:

- In a process where Ray is initialised (every actor, and the driver after `ray.init`),
  a record goes to `ray.util.metrics`; each node's metrics agent serves it on the node's
  metrics export port (`ray start --metrics-export-port`, 8080 in KubeRay's pods, named
  `metrics`). Ray 2.60 exports through OpenTelemetry and prefixes application metrics
  with `ray_`: a counter `selfharness_episodes` arrives in Prometheus as
  `ray_selfharness_episodes_total`, a gauge `g` as `ray_g`, a histogram `h` as
  `ray_h_bucket`, `ray_h_sum` and `ray_h_count` (`exported_series`; checked against a
  real Prometheus in `tests/cluster/test_prometheus.py`). Ray adds `SessionName`,
  `NodeAddress`, `WorkerId`, `Component` and `Version` labels: sum over them.
- Without Ray (the bare loop, unit tests) a record goes to an in-process registry
  (`local_value`) that serves nothing: tests read it, and the hooks run the same code
  either way.

Recording never fails an episode: an unknown metric or a wrong tag set is a programming
error and raises (the tests exercise every hook), but a failure inside Ray's recorder is
logged once and ignored. Tags are bounded: split, outcome, harness id (a run has at most
1 + rounds * (K + 1) of them), model name, stage; never an episode id or a task.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

from harnesses.vocabulary import STAGES

log = logging.getLogger(__name__)

Kind = Literal["counter", "gauge", "histogram"]

PREFIX = "ray_"
"""What Ray puts before an application metric's name when it exports it."""

EPISODE_BUCKETS_S = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)
COMMAND_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 180, 600)
MODEL_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
WAIT_BUCKETS_S = (0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300)
REPLICA_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
"""`actors.model.replica_metrics.LATENCY_BUCKETS_S`, which `ReplicaMetrics` uses."""

REPLICA_TAGS = ("backend", "model", "replica")
OUTCOMES = ("passed", "failed", "infra_error")
"""The controller's phases, in order (`state.json`'s `phase`)."""
DECISIONS = ("accepted", "rejected", "refused")
COMMAND_RESULTS = ("ok", "error", "timeout")


@dataclass(frozen=True)
class Metric:
    name: str
    """As given to `ray.util.metrics`; Prometheus sees `exported_series(...)`."""
    kind: Kind
    description: str
    tags: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    """Histogram bucket upper bounds (seconds)."""
    where: str = ""
    """The process that records it."""

    @property
    def exported(self) -> str:
        """The base name in Prometheus (a histogram's series add _bucket, _sum, _count)."""
        return PREFIX + self.name + ("_total" if self.kind == "counter" else "")


METRICS: tuple[Metric, ...] = (
    # -- episodes (RolloutWorker actors; the driver for a worker that died) --------------------
    Metric("selfharness_episodes", "counter", "Episodes finished, by split, outcome and harness",
           ("split", "outcome", "harness"), where="RolloutWorker"),
    Metric("selfharness_episode_duration_s", "histogram", "Seconds per episode, sandbox start to verifier",
           ("split",), EPISODE_BUCKETS_S, where="RolloutWorker"),
    Metric("selfharness_command_duration_s", "histogram",
           "Seconds per sandbox command, by result (ok: exit 0, error: other exit, timeout)",
           ("result",), COMMAND_BUCKETS_S, where="RolloutWorker"),
    Metric("selfharness_commands_blocked", "counter", "Commands a middleware refused to run",
           where="RolloutWorker"),
    Metric("selfharness_verifier_tampering", "counter",
           "Episodes that left changes where the verifier lives (also counted as failed episodes)",
           ("split", "harness"), where="RolloutWorker"),
    # -- the driver's queue ---------------------------------------------------------------------
    Metric("selfharness_queue_depth", "gauge", "Episodes submitted to the workers and not finished yet",
           where="driver (RolloutPipeline.run_jobs)"),
    # -- sandboxes --------------------------------------------------------------------------------
    Metric("selfharness_sandbox_pool_size", "gauge", "Sandboxes the pool lets run at once", where="SandboxPool"),
    Metric("selfharness_sandbox_pool_busy", "gauge", "Sandbox leases held now", where="SandboxPool"),
    Metric("selfharness_sandbox_lease_wait_s", "histogram", "Seconds a worker waited for a sandbox lease",
           (), WAIT_BUCKETS_S, where="SandboxPool"),
    # -- the model server -------------------------------------------------------------------------
    Metric("selfharness_model_request_duration_s", "histogram", "Seconds per model request, retries included",
           ("model",), MODEL_BUCKETS_S, where="ModelServer"),
    Metric("selfharness_model_errors", "counter", "Model requests that ended in an error", ("model",),
           where="ModelServer"),
    Metric("selfharness_model_prompt_tokens", "counter", "Prompt tokens sent to the model", ("model",),
           where="ModelServer"),
    Metric("selfharness_model_completion_tokens", "counter", "Completion tokens the model returned", ("model",),
           where="ModelServer"),
    Metric("selfharness_model_retries", "counter", "Model calls that needed another attempt (429, 5xx, timeouts)",
           ("model",), where="ModelServer"),
    # -- model replicas, vllm and llamacpp (defined in actors/model/replica_metrics.py; kept equal by a test) --
    Metric("selfharness_replica_requests", "counter", "Requests a model replica took", REPLICA_TAGS,
           where="ModelReplica"),
    Metric("selfharness_replica_errors", "counter", "Requests a model replica failed", REPLICA_TAGS,
           where="ModelReplica"),
    Metric("selfharness_replica_prompt_tokens", "counter", "Prompt tokens", REPLICA_TAGS, where="ModelReplica"),
    Metric("selfharness_replica_cached_tokens", "counter", "Prompt tokens the prefix cache served (not evaluated "
           "again)", REPLICA_TAGS, where="ModelReplica"),
    Metric("selfharness_replica_completion_tokens", "counter", "Completion tokens", REPLICA_TAGS,
           where="ModelReplica"),
    Metric("selfharness_replica_in_flight", "gauge", "Requests in flight on a replica", REPLICA_TAGS,
           where="ModelReplica"),
    Metric("selfharness_replica_latency_s", "histogram", "Seconds per request", REPLICA_TAGS,
           REPLICA_BUCKETS_S, where="ModelReplica"),
    # -- the loop (the controller, in the driver) -------------------------------------------------
    Metric("selfharness_round", "gauge", "The round the controller is in", where="Controller"),
    Metric("selfharness_stage", "gauge", "1 for the controller's current stage, 0 for the others", ("stage",),
           where="Controller"),
    Metric("selfharness_proposals", "counter", "Proposals decided, by decision (refused: malformed, never run)",
           ("decision",), where="Controller"),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def exported_series(metric: Metric) -> tuple[str, ...]:
    """The series names Prometheus stores for a metric."""
    if metric.kind == "histogram":
        return tuple(metric.exported + s for s in ("_bucket", "_sum", "_count"))
    return (metric.exported,)


def series_index() -> dict[str, Metric]:
    """Every exported series name -> its metric."""
    return {s: m for m in METRICS for s in exported_series(m)}


# -- recording ---------------------------------------------------------------------------------

_lock = threading.Lock()
_ray_metrics: dict[str, object] = {}
_local: dict[tuple[str, tuple[tuple[str, str], ...]], object] = {}
_failed: set[str] = set()


def _ray_on() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return ray.is_initialized()


def _ray_metric(m: Metric):
    made = _ray_metrics.get(m.name)
    if made is None:
        from ray.util import metrics

        with _lock:
            made = _ray_metrics.get(m.name)
            if made is None:
                if m.kind == "counter":
                    made = metrics.Counter(m.name, m.description, m.tags)
                elif m.kind == "gauge":
                    made = metrics.Gauge(m.name, m.description, m.tags)
                else:
                    made = metrics.Histogram(m.name, m.description, list(m.buckets), m.tags)
                _ray_metrics[m.name] = made
    return made


def _checked(name: str, kind: Kind, tags: dict) -> tuple[Metric, dict[str, str]]:
    m = BY_NAME.get(name)
    if m is None:
        raise KeyError(f"metric {name!r} is not in actors.metrics.METRICS")
    if m.kind != kind:
        raise TypeError(f"metric {name!r} is a {m.kind}, not a {kind}")
    if set(tags) != set(m.tags):
        raise ValueError(f"metric {name!r} takes tags {m.tags}, got {tuple(tags)}")
    return m, {k: str(v) for k, v in tags.items()}


def _record(m: Metric, value: float, tags: dict[str, str]) -> None:
    if _ray_on():
        try:
            metric = _ray_metric(m)
            if m.kind == "counter":
                metric.inc(value, tags=tags or None)
            elif m.kind == "gauge":
                metric.set(value, tags=tags or None)
            else:
                metric.observe(value, tags=tags or None)
        except Exception as e:  # the recorder's trouble is never the run's
            if m.name not in _failed:
                _failed.add(m.name)
                log.warning("metric %s not recorded: %s: %s", m.name, type(e).__name__, e)
        return
    key = (m.name, tuple(sorted(tags.items())))
    with _lock:
        if m.kind == "counter":
            _local[key] = _local.get(key, 0.0) + value
        elif m.kind == "gauge":
            _local[key] = value
        else:
            count, total, buckets = _local.get(key, (0, 0.0, [0] * (len(m.buckets) + 1)))
            buckets = list(buckets)
            buckets[next((i for i, b in enumerate(m.buckets) if value <= b), len(m.buckets))] += 1
            _local[key] = (count + 1, total + value, buckets)


def inc(name: str, value: float = 1, **tags) -> None:
    """Add `value` (>= 0; 0 records nothing) to a counter."""
    m, tags = _checked(name, "counter", tags)
    if value < 0:
        raise ValueError(f"counter {name!r}: cannot add {value}")
    if value > 0:
        _record(m, float(value), tags)


def set_gauge(name: str, value: float, **tags) -> None:
    m, tags = _checked(name, "gauge", tags)
    _record(m, float(value), tags)


def observe(name: str, value: float, **tags) -> None:
    m, tags = _checked(name, "histogram", tags)
    _record(m, max(0.0, float(value)), tags)


def local_value(name: str, **tags):
    """What the in-process registry holds (no Ray): a counter's sum or a gauge's value (0 if never
    recorded), a histogram's (count, sum, per-bucket counts with +Inf last)."""
    if name not in BY_NAME:
        raise KeyError(f"metric {name!r} is not in actors.metrics.METRICS")
    m, tags = _checked(name, BY_NAME[name].kind, tags)
    with _lock:
        got = _local.get((m.name, tuple(sorted(tags.items()))))
    if got is None:
        return (0, 0.0, [0] * (len(m.buckets) + 1)) if m.kind == "histogram" else 0.0
    return got


def reset_local() -> None:
    with _lock:
        _local.clear()


# -- what the actors record ------------------------------------------------------------------------


def episode_outcome(trace) -> str:
    if trace.infra_error is not None:
        return "infra_error"
    return "passed" if trace.passed else "failed"


def record_episode(trace) -> None:
    """An episode's outcome, its duration and its commands' durations, from its trace; tampering with the
    verifier is counted on its own too, so a harness that games its verifier stands out on the dashboard."""
    split = trace.split or "none"
    inc("selfharness_episodes", split=split, outcome=episode_outcome(trace), harness=trace.harness_id)
    if trace.tampering:
        inc("selfharness_verifier_tampering", split=split, harness=trace.harness_id)
    if trace.infra_error is None or trace.duration_s > 0:
        observe("selfharness_episode_duration_s", trace.duration_s, split=split)
    for c in trace.commands:
        if c.blocked_by is not None or (c.exit_code is None and not c.timed_out):  # never ran
            inc("selfharness_commands_blocked")
            continue
        result = "timeout" if c.timed_out else ("ok" if c.exit_code == 0 else "error")
        observe("selfharness_command_duration_s", c.duration_s, result=result)


def record_model_request(model: str, seconds: float, reply=None) -> None:
    """One ModelServer request: its latency; the reply's tokens and retries (None: it failed)."""
    observe("selfharness_model_request_duration_s", seconds, model=model)
    if reply is None:
        inc("selfharness_model_errors", model=model)
        return
    inc("selfharness_model_prompt_tokens", reply.prompt_tokens, model=model)
    inc("selfharness_model_completion_tokens", reply.completion_tokens, model=model)
    inc("selfharness_model_retries", sum(1 for e in reply.events if e.startswith("attempt ")), model=model)


def record_stage(stage: str) -> None:
    """The controller entered `stage`: it reads 1, every other stage 0 (an unknown stage: all 0, and a
    warning; the label set stays the fixed `STAGES`)."""
    if stage not in STAGES:
        log.warning("metric selfharness_stage: unknown stage %r; known: %s", stage, ", ".join(STAGES))
    for s in STAGES:
        set_gauge("selfharness_stage", 1.0 if s == stage else 0.0, stage=s)


def record_decisions(accepted: int, rejected: int, refused: int) -> None:
    for decision, n in zip(DECISIONS, (accepted, rejected, refused)):
        inc("selfharness_proposals", n, decision=decision)


def prometheus_targets() -> list[dict]:
    """A Prometheus file_sd list of every live Ray node's metrics endpoint (what Ray's head writes
    to /tmp/ray/prom_metrics_service_discovery.json when its dashboard runs)."""
    import ray

    targets = [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in ray.nodes()
               if n.get("Alive") and n.get("MetricsExportPort")]
    return [{"labels": {"job": "ray"}, "targets": sorted(targets)}]
