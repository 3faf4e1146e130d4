"""The composition root: the only place plain classes become Ray actors.

A rollout is a ModelServer actor, a SandboxPool actor and a few threaded RolloutWorker
actors; the driver hands out episodes, drives a progress bar as they finish and writes
every trace to the run directory as it arrives.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import msgspec
from tqdm import tqdm

from actors.model.server import ModelServer, RemoteModel, build_model
from actors.rollout import EpisodeSpec, RolloutSummary, RolloutWorker, plan_episodes, summarize
from actors.sandbox.factory import build_backend
from actors.sandbox.pool import SandboxPool
from benchmarks.tasks import Suite, Task, load_suite
from cluster.config import RolloutConfig, resolve_path, resolve_suite
from cluster.store import RunStore
from harnesses.spec import HarnessSpec, load_harness
from harnesses.trace import Trace


def init_ray(address: str | None = None) -> None:
    """Join RAY_ADDRESS (set by `ray job submit`) or start a local cluster; quiet on a laptop."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    # The project ships as source on the driver's path; workers on this machine import it from there.
    root = str(Path(__file__).resolve().parent.parent)
    env = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    ray.init(address=address, runtime_env=env, include_dashboard=False, log_to_driver=False,
             configure_logging=False, ignore_reinit_error=True)


def prepare(config: RolloutConfig) -> tuple[Suite, list[Task], HarnessSpec | None]:
    suite = load_suite(resolve_suite(config.suite))
    tasks = suite.split(config.split)
    harness = load_harness(resolve_path(config.harness)) if config.agent == "model" else None
    return suite, tasks, harness


class RolloutPipeline:
    """The actors of a rollout, made once and reused: a run keeps them across rounds."""

    def __init__(self, config: RolloutConfig, tasks: list[Task], harness: HarnessSpec | None):
        import ray

        init_ray()
        self.config, self.tasks, self.harness = config, tasks, harness
        per_worker = max(1, -(-config.concurrency // config.workers))
        self.server = model = None
        if config.agent == "model":
            self.server = ray.remote(ModelServer).options(max_concurrency=max(8, config.concurrency * 2)).remote(
                config.model, tasks)
            model = RemoteModel(self.server, ray.get(self.server.stats.remote())["model"])
        self.pool = pool = ray.remote(SandboxPool).remote(config.concurrency)

        def make_worker():
            return RolloutWorker(tasks, build_backend(config.sandbox), model, harness, config.agent,
                                 lease=lambda: ray.get(pool.acquire.remote()),
                                 release=lambda token: ray.get(pool.release.remote(token)))

        Worker = ray.remote(_RayWorker).options(max_concurrency=per_worker)
        self.workers = [Worker.remote(make_worker) for _ in range(config.workers)]
        ray.get([w.ready.remote() for w in self.workers])

    def run(self, specs: list[EpisodeSpec], store: RunStore, *, progress: bool = True,
            desc: str = "rollout") -> tuple[list[Trace], RolloutSummary]:
        """Run episodes; each trace lands in `store` as soon as it finishes."""
        import ray

        start = time.monotonic()
        pending = {self.workers[i % len(self.workers)].run_encoded.remote(spec): spec for i, spec in enumerate(specs)}
        traces: list[Trace] = []
        with tqdm(total=len(specs), desc=desc, unit="ep", disable=not progress) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    trace = msgspec.json.decode(ray.get(done[0]), type=Trace)
                except Exception as e:  # a worker died: record it as the infrastructure's failure
                    trace = Trace(task=spec.task, harness_id=self.harness.id if self.harness else self.config.agent,
                                  model=self.config.agent, attempt=spec.attempt, seed=spec.seed, split=spec.split,
                                  infra_error=f"worker: {type(e).__name__}: {e}", stop_reason="infra_error")
                store.save_trace(trace)
                traces.append(trace)
                bar.update(1)
                bar.set_postfix(passed=sum(t.passed for t in traces))
        return traces, summarize(traces, time.monotonic() - start)

    def close(self) -> None:
        import ray

        for actor in self.workers + [self.pool] + ([self.server] if self.server is not None else []):
            ray.kill(actor)


def run_rollout(config: RolloutConfig, store: RunStore, *, progress: bool = True,
                tasks: list[Task] | None = None, harness: HarnessSpec | None = None) -> tuple[list[Trace], RolloutSummary]:
    """One rollout on Ray, from actor start to actor end."""
    if tasks is None or (harness is None and config.agent == "model"):
        _, tasks, harness = prepare(config)
    pipeline = RolloutPipeline(config, tasks, harness)
    try:
        specs = plan_episodes(tasks, config.attempts, config.seed, config.split)
        return pipeline.run(specs, store, progress=progress, desc=f"rollout {config.split}")
    finally:
        pipeline.close()


class _RayWorker:
    """Builds its RolloutWorker inside the actor process (backends and leases are per process)."""

    def __init__(self, factory):
        self.worker = factory()

    def ready(self) -> bool:
        return True

    def run_encoded(self, spec: EpisodeSpec) -> bytes:
        return self.worker.run_encoded(spec)


def run_rollout_bare(config: RolloutConfig, tasks: list[Task], harness: HarnessSpec | None) -> tuple[list[Trace], float]:
    """The same episodes without Ray: a thread pool in this process (for benchmarks and tests)."""
    model = build_model(config.model, tasks) if config.agent == "model" else None
    worker = RolloutWorker(tasks, build_backend(config.sandbox), model, harness, config.agent)
    specs = plan_episodes(tasks, config.attempts, config.seed, config.split)
    start = time.monotonic()
    with ThreadPoolExecutor(config.concurrency) as pool:
        futures = [pool.submit(worker.run, s) for s in specs]
        traces = [f.result() for f in as_completed(futures)]
    return traces, time.monotonic() - start
