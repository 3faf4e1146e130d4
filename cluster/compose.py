"""The composition root: the only place plain classes become Ray actors.

A rollout is a ModelServer actor, a SandboxPool actor and a few threaded RolloutWorker
actors; the driver hands out episodes, drives a progress bar as they finish and writes
every trace to the run directory as it arrives.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import msgspec
from tqdm import tqdm

from actors import metrics
from actors.model.config import ModelConfig, VLLMModelConfig
from actors.model.server import ModelServer, RemoteModel, build_model
from actors.rollout import EpisodeSpec, RolloutWorker, infra_error_trace, plan_episodes, summarize
from actors.records import RolloutSummary
from actors.run_dir import RunStore
from actors.sandbox.config import SandboxConfig
from actors.sandbox.factory import build_backend
from actors.sandbox.pool import SandboxPool
from cluster.config import RolloutConfig, resolve_path, resolve_suite
from cluster.ray_init import init_ray
from harnesses.spec import HarnessSpec, load_harness
from harnesses.tasks import Suite, Task, load_suite
from harnesses.trace import Trace


def prepare(config: RolloutConfig) -> tuple[Suite, list[Task], HarnessSpec | None]:
    suite = load_suite(resolve_suite(config.suite))
    tasks = suite.split(config.split)
    harness = load_harness(resolve_path(config.harness)) if config.agent == "model" else None
    return suite, tasks, harness


def start_model_server(model: ModelConfig, tasks: list[Task], concurrency: int):
    """The actor the agent loops call: a ModelServer (sim, openai), or the vLLM router over GPU replicas."""
    import ray

    if isinstance(model, VLLMModelConfig):
        from cluster.vllm import start_vllm

        return start_vllm(model)
    return ray.remote(ModelServer).options(max_concurrency=max(8, concurrency * 2)).remote(model, tasks)


class RolloutPipeline:
    """The actors of a rollout, made once and reused: a run keeps them across rounds."""

    def __init__(self, tasks: list[Task], *, model: ModelConfig, sandbox: SandboxConfig, agent: str = "model",
                 concurrency: int = 4, workers: int = 2, harness: HarnessSpec | None = None):
        import ray

        init_ray()
        self.agent, self.harness, self.model_config = agent, harness, model
        per_worker = max(1, -(-concurrency // workers))
        self.server = self.model = None
        if agent == "model":
            self.server = start_model_server(model, tasks, concurrency)
            self.model = RemoteModel(self.server, ray.get(self.server.stats.remote())["model"])
        self.pool = pool = ray.remote(SandboxPool).remote(concurrency)
        remote_model = self.model

        def make_worker():
            return RolloutWorker(tasks, build_backend(sandbox), remote_model, harness, agent,
                                 lease=lambda: ray.get(pool.acquire.remote()),
                                 release=lambda token: ray.get(pool.release.remote(token)))

        Worker = ray.remote(_RayWorker).options(max_concurrency=per_worker)
        self.workers = [Worker.remote(make_worker) for _ in range(workers)]
        ray.get([w.ready.remote() for w in self.workers])

    @classmethod
    def for_rollout(cls, config: RolloutConfig, tasks: list[Task], harness: HarnessSpec | None) -> "RolloutPipeline":
        return cls(tasks, model=config.model, sandbox=config.sandbox, agent=config.agent,
                   concurrency=config.concurrency, workers=config.workers, harness=harness)

    def run_jobs(self, jobs: list[tuple[EpisodeSpec, HarnessSpec | None]], *, on_trace=None,
                 progress: bool = True, desc: str = "episodes") -> list[Trace]:
        """Run (episode, harness) jobs across the workers; traces come back in job order.

        `on_trace(index, trace)` is called as each finishes, so a caller can persist it at once.
        """
        import ray

        refs = {self.workers[i % len(self.workers)].run_encoded.remote(spec, harness): i
                for i, (spec, harness) in enumerate(jobs)}
        out: list[Trace | None] = [None] * len(jobs)
        metrics.set_gauge("selfharness_queue_depth", len(refs))
        with tqdm(total=len(jobs), desc=desc, unit="ep", disable=not progress,
                  mininterval=0.1 if sys.stderr.isatty() else 30) as bar:  # a log file gets a line now and then
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                i = refs.pop(done[0])
                spec, harness = jobs[i]
                try:
                    trace = msgspec.json.decode(ray.get(done[0]), type=Trace)
                except Exception as e:  # a worker died: record it as the infrastructure's failure
                    harness = harness or self.harness
                    trace = infra_error_trace(spec, harness.id if harness else self.agent,
                                              self.model.name if self.model is not None else self.agent,
                                              f"worker: {type(e).__name__}: {e}")
                    metrics.record_episode(trace)  # the worker that would have recorded it is gone
                out[i] = trace
                metrics.set_gauge("selfharness_queue_depth", len(refs))
                if on_trace is not None:
                    on_trace(i, trace)
                bar.update(1)
                bar.set_postfix(passed=sum(t.passed for t in out if t is not None))
        return out  # type: ignore[return-value]

    def run(self, specs: list[EpisodeSpec], store: RunStore, *, progress: bool = True,
            desc: str = "rollout") -> tuple[list[Trace], RolloutSummary]:
        """Run episodes of the pipeline's harness; each trace lands in `store` as soon as it finishes."""
        start = time.monotonic()
        traces = self.run_jobs([(s, None) for s in specs], on_trace=lambda _, t: store.save_trace(t),
                               progress=progress, desc=desc)
        return traces, summarize(traces, time.monotonic() - start)

    def close(self) -> None:
        import ray

        if self.server is not None and isinstance(self.model_config, VLLMModelConfig):
            from cluster.vllm import stop_vllm

            stop_vllm(self.server)  # frees the replicas' placement groups (their GPUs), then the router
        try:
            ray.get([w.close.remote() for w in self.workers], timeout=120)
        except Exception:  # a dead worker holds nothing; the sweeper removes what a crash left
            pass
        for actor in self.workers + [self.pool] + ([self.server] if self.server is not None else []):
            ray.kill(actor)


def run_rollout(config: RolloutConfig, store: RunStore, *, progress: bool = True,
                tasks: list[Task] | None = None, harness: HarnessSpec | None = None) -> tuple[list[Trace], RolloutSummary]:
    """One rollout on Ray, from actor start to actor end."""
    if tasks is None or (harness is None and config.agent == "model"):
        _, tasks, harness = prepare(config)
    pipeline = RolloutPipeline.for_rollout(config, tasks, harness)
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

    def run_encoded(self, spec: EpisodeSpec, harness: HarnessSpec | None = None) -> bytes:
        return self.worker.run_encoded(spec, harness)

    def close(self) -> None:
        """Let the backend release what it holds beyond an episode (a kubernetes warm pool's pods)."""
        close = getattr(self.worker.backend, "close", None)
        if close is not None:
            close()


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
