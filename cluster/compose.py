"""The composition root of a rollout: where the plain classes become Ray actors.

A rollout is a ModelServer actor, a SandboxPool actor and a fleet of threaded RolloutWorker
actors spread over the nodes (cluster/fleet.py); workers pull episodes as slots free up, a
lost worker's episodes run again elsewhere (actors/scheduling.py holds the rule), and every
trace is written to the run directory as it arrives.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable

import msgspec
from tqdm import tqdm

from actors import metrics
from actors.model.config import LlamaCppModelConfig, ModelConfig, VLLMModelConfig
from actors.model.server import ModelServer, RemoteModel, build_model
from actors.rollout import EpisodeSpec, RolloutWorker, infra_error_trace, plan_episodes, summarize
from actors.records import BatchProgress, RolloutSummary
from actors.run_dir import RunStore
from actors.sandbox.config import SandboxConfig
from actors.sandbox.factory import build_backend
from actors.sandbox.pool import SandboxPool
from actors.scheduling import EpisodeQueue
from actors.suite_splits import pin_splits
from cluster.config import ConfigError, RolloutConfig, resolve_path, resolve_suite
from cluster.ray_init import init_ray
from harnesses.spec import HarnessSpec, load_harness
from harnesses.tasks import Suite, Task, load_suite
from harnesses.trace import Trace


def prepare(config: RolloutConfig, store: RunStore | None = None,
            log=print) -> tuple[Suite, list[Task], HarnessSpec | None]:
    """The suite, the tasks of the rollout's split and its harness; with `store`, derived splits are the ones
    that run directory keeps (actors/suite_splits.py)."""
    suite = load_suite(resolve_suite(config.suite))
    if store is not None:
        suite = pin_splits(store, suite, log)
    tasks = suite.split(config.split)
    if config.tasks:
        names = {t.name for t in tasks}
        unknown = [n for n in config.tasks if n not in names]
        if unknown:
            raise ConfigError(f"tasks: {', '.join(unknown)} not in {suite.name}/{config.split} "
                              f"(it holds {', '.join(sorted(names)[:12])}{', ...' if len(names) > 12 else ''})")
        tasks = [t for t in tasks if t.name in set(config.tasks)]
    harness = load_harness(resolve_path(config.harness)) if config.agent == "model" else None
    return suite, tasks, harness


CONTROL = dict(num_cpus=0, max_restarts=-1, max_task_retries=-1)
"""The options of every actor a run cannot lose: restarted by Ray on any live node (they reserve no CPU, so
there is always room), and a call in flight is retried on the restarted actor. Each rebuilds its state from
its constructor's arguments (the run directory holds the rest)."""

LOST = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
        "ObjectLostError", "OwnerDiedError", "ObjectReconstructionFailedError", "LocalRayletDiedError")
"""What a call to a worker raises when the worker (or its node) is gone: its episodes run again elsewhere."""


def start_model_server(model: ModelConfig, tasks: list[Task], concurrency: int):
    """The actor the agent loops call: a ModelServer (sim, openai), or a router over vLLM (GPU) or llama.cpp
    (CPU) replicas."""
    import ray

    if isinstance(model, VLLMModelConfig):
        from cluster.vllm import start_vllm

        return start_vllm(model)
    if isinstance(model, LlamaCppModelConfig):
        from cluster.llamacpp import start_llamacpp

        return start_llamacpp(model)
    return ray.remote(ModelServer).options(max_concurrency=max(8, concurrency * 2), **CONTROL).remote(model, tasks)


def stop_model_server(model: ModelConfig, server) -> None:
    """Stop what `start_model_server` started: a router frees its replicas' placement groups first."""
    import ray

    if isinstance(model, (VLLMModelConfig, LlamaCppModelConfig)):
        from cluster.replicas import stop_router

        stop_router(server)  # it kills the router too
    else:
        ray.kill(server, no_restart=True)


class RolloutPipeline:
    """The actors of a rollout, made once and reused: a run keeps them across rounds.

    Episodes are pulled: a worker gets the next one when a slot of it is free. A worker that
    dies (or whose node does) loses nothing: its episodes run again on another worker with the
    same (task, attempt, seed), and the fleet places its slots again.
    """

    def __init__(self, tasks: list[Task], *, model: ModelConfig, sandbox: SandboxConfig, agent: str = "model",
                 concurrency: int = 4, workers: int = 2, harness: HarnessSpec | None = None,
                 max_infra_retries: int = 2):
        import ray

        from cluster.fleet import Fleet

        init_ray()
        self.agent, self.harness, self.model_config = agent, harness, model
        self.max_infra_retries = max_infra_retries
        self.server = self.model = None
        if agent == "model":
            self.server = start_model_server(model, tasks, concurrency)
            self.model = RemoteModel(self.server, ray.get(self.server.stats.remote())["model"])
        self.pool = pool = ray.remote(SandboxPool).options(**CONTROL).remote(concurrency)
        remote_model = self.model

        def make_worker():
            return RolloutWorker(tasks, build_backend(sandbox), remote_model, harness, agent,
                                 lease=lambda: ray.get(pool.acquire.remote()),
                                 release=lambda token: ray.get(pool.release.remote(token)))

        Worker = ray.remote(_RayWorker)
        self.fleet = Fleet(lambda options: Worker.options(**options).remote(make_worker), sandbox,
                           concurrency=concurrency, workers=workers)
        self.fleet.refresh(force=True)
        self.progress = BatchProgress()
        self.reruns = 0

    @classmethod
    def for_rollout(cls, config: RolloutConfig, tasks: list[Task], harness: HarnessSpec | None) -> "RolloutPipeline":
        return cls(tasks, model=config.model, sandbox=config.sandbox, agent=config.agent,
                   concurrency=config.concurrency, workers=config.workers, harness=harness,
                   max_infra_retries=config.max_infra_retries)

    def placement(self) -> dict[str, dict[str, int]]:
        """Workers and slots per node."""
        return self.fleet.placement()

    def _lost_trace(self, job: tuple[EpisodeSpec, HarnessSpec | None], reason: str, tries: int) -> Trace:
        spec, harness = job
        harness = harness or self.harness
        trace = infra_error_trace(spec, harness.id if harness else self.agent,
                                  self.model.name if self.model is not None else self.agent, reason)
        metrics.record_episode(trace)  # the worker that would have recorded it is gone
        return trace

    def run_jobs(self, jobs: list[tuple[EpisodeSpec, HarnessSpec | None]], *, on_trace=None,
                 progress: bool = True, desc: str = "episodes",
                 recorded: Callable[[int], bool] = lambda i: False) -> list[Trace | None]:
        """Run (episode, harness) jobs across the workers; traces come back in job order.

        `on_trace(index, trace)` is called once per job with its final trace, so a caller can persist it at
        once; a job `recorded(index)` says is already in the run directory is not run (its slot is None).
        """
        import ray

        queue = EpisodeQueue(jobs, max_infra_retries=self.max_infra_retries, recorded=recorded,
                             infra_trace=self._lost_trace)
        inflight: dict = {}  # ObjectRef -> (job index, Member)
        out: list[Trace | None] = [None] * len(jobs)
        self.progress = live = BatchProgress(desc=desc, total=len(jobs))
        fleet = self.fleet

        def final(i: int, trace: Trace | None) -> None:
            if trace is None:
                return
            out[i] = trace
            live.done += 1
            live.passed += trace.passed
            if on_trace is not None:
                on_trace(i, trace)
            bar.update(1)
            bar.set_postfix(passed=live.passed)

        def lose(member, why: str) -> None:
            for ref in fleet.drop(member):
                j, _ = inflight.pop(ref)
                final(j, queue.lost(j, why))

        with tqdm(total=len(jobs), desc=desc, unit="ep", disable=not progress,
                  mininterval=0.1 if sys.stderr.isatty() else 30) as bar:  # a log file gets a line now and then
            while not queue.finished:
                fleet.refresh()
                for member in fleet.free():
                    while member.free > 0:
                        i = queue.next()
                        if i is None:
                            break
                        ref = member.handle.run_encoded.remote(*jobs[i])
                        inflight[ref] = (i, member)
                        member.running.add(ref)
                live.queued, live.running, live.reruns = len(queue), len(inflight), queue.reruns
                metrics.set_gauge("selfharness_queue_depth", len(queue) + len(inflight))
                waiting = list(inflight) + fleet.pending_ready()
                if not waiting:
                    if queue.finished:
                        break
                    time.sleep(0.2)  # no worker yet: the fleet places some at its next refresh
                    continue
                done, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
                if done:
                    first = set(done)
                    rest = [r for r in waiting if r not in first]
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0) if rest else ([], [])
                    done += more
                for ref in done:
                    if ref not in inflight:
                        fleet.mark_ready(ref)
                        continue
                    i, member = inflight[ref]
                    try:
                        trace = msgspec.json.decode(ray.get(ref), type=Trace)
                    except Exception as e:
                        why = f"worker lost: {type(e).__name__}"
                        if type(e).__name__ in LOST or isinstance(e, ray.exceptions.RayActorError):
                            lose(member, why)  # this call and every other the worker had
                            continue
                        trace = self._lost_trace(jobs[i], f"worker: {type(e).__name__}: {e}"[:500], 0)
                    del inflight[ref]
                    member.running.discard(ref)
                    final(i, queue.done(i, trace))
        live.queued = live.running = 0
        live.reruns = queue.reruns
        self.reruns += queue.reruns
        metrics.set_gauge("selfharness_queue_depth", 0)
        return out

    def batch_runner(self, progress: bool):
        """This pipeline as an Evaluator's BatchRunner (a run's, a calibration's)."""
        return lambda jobs, on_trace, desc, recorded: self.run_jobs(jobs, on_trace=on_trace, progress=progress,
                                                                    desc=desc, recorded=recorded)

    def run(self, specs: list[EpisodeSpec], store: RunStore, *, progress: bool = True,
            desc: str = "rollout") -> tuple[list[Trace], RolloutSummary]:
        """Run episodes of the pipeline's harness; each trace lands in `store` as soon as it finishes."""
        start = time.monotonic()
        traces = self.run_jobs([(s, None) for s in specs], on_trace=lambda _, t: store.save_trace(t),
                               progress=progress, desc=desc)
        return traces, summarize(traces, time.monotonic() - start)  # type: ignore[arg-type]

    def close(self) -> None:
        import ray

        if self.server is not None:
            stop_model_server(self.model_config, self.server)
        self.fleet.close()
        ray.kill(self.pool, no_restart=True)


def run_rollout(config: RolloutConfig, store: RunStore, *, progress: bool = True,
                tasks: list[Task] | None = None, harness: HarnessSpec | None = None) -> tuple[list[Trace], RolloutSummary]:
    """One rollout on Ray, from actor start to actor end."""
    if tasks is None or (harness is None and config.agent == "model"):
        _, tasks, harness = prepare(config, store)
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
