"""Composing a Self-Harness run: on Ray (the product) or in one process (tests, benchmarks).

On Ray: the ModelServer, SandboxPool and RolloutWorker actors of a `RolloutPipeline`
serve every rollout and validation of the run; the miner is an actor holding the FAISS
index; the proposer asks the same ModelServer. The controller drives them from the
driver and keeps everything in the run directory, so `resume` is running it again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed


from actors.controller import Controller
from actors.evaluator import Evaluator
from actors.miner import WeaknessMiner
from actors.mining.labeller import ModelLabeller
from actors.model.config import SimModelConfig
from actors.model.server import build_model
from actors.proposer import Proposer
from actors.records import FinalReport
from actors.rollout import RolloutWorker
from actors.run_dir import RunStore
from actors.sandbox.factory import build_backend
from cluster.config import REPO_ROOT, ConfigError, RunConfig, resolve_path, resolve_suite, save_run_config
from harnesses.spec import load_harness
from harnesses.tasks import Task, load_suite
from harnesses.vocabulary import SPLITS


def load_splits(config: RunConfig) -> dict[str, list[Task]]:
    suite = load_suite(resolve_suite(config.suite))
    missing = [s for s in SPLITS if not suite.splits.get(s)]
    if missing:
        raise ConfigError(f"suite {config.suite!r}: suite.yaml has no tasks in split(s) {missing}; "
                          "a run needs train, val and test")
    return {s: suite.split(s)[: config.limit] if config.limit else suite.split(s) for s in SPLITS}


def open_run(config: RunConfig, run_dir: str | None = None) -> RunStore:
    """A new run directory with its config, or the existing one (resume)."""
    if run_dir:
        store = RunStore(run_dir)
    elif config.run_dir:
        store = RunStore(config.run_dir)
    else:
        store = RunStore.new(REPO_ROOT / "runs", config.name)
    save_run_config(store, config)
    return store


def _controller(config: RunConfig, store: RunStore, splits, run_batch, model, miner_factory, log) -> Controller:
    evaluator = Evaluator(store, run_batch, splits, config.attempts, config.seed)
    initial = load_harness(resolve_path(config.initial_harness))
    return Controller(config.loop(), store, evaluator, miner_factory, Proposer(model), initial, log=log)


def _miner_kwargs(config: RunConfig, model) -> dict:
    m = config.mining
    wanted = m.model_labels if m.model_labels is not None else not isinstance(config.model, SimModelConfig)
    labeller = ModelLabeller(model, config.seed) if wanted else None
    return dict(embedder=m.embedder, threshold=m.threshold, min_failures=m.min_failures, min_tasks=m.min_tasks,
                max_examples=m.max_examples, labeller=labeller)


def run_loop_bare(config: RunConfig, store: RunStore, log=lambda *_: None) -> FinalReport:
    """The whole loop in this process: a thread pool runs episodes, the model is in-process."""
    splits = load_splits(config)
    tasks = [t for ts in splits.values() for t in ts]
    model = build_model(config.model, tasks)
    worker = RolloutWorker(tasks, build_backend(config.sandbox), model, None)

    def run_batch(jobs, on_trace, desc):
        out = [None] * len(jobs)
        with ThreadPoolExecutor(config.concurrency) as pool:
            futures = {pool.submit(worker.run, spec, harness): i for i, (spec, harness) in enumerate(jobs)}
            for f in as_completed(futures):
                i = futures[f]
                out[i] = f.result()
                on_trace(i, out[i])
        return out

    factory = lambda state: WeaknessMiner(**_miner_kwargs(config, model), state=state)  # noqa: E731
    return _controller(config, store, splits, run_batch, model, factory, log).run()


class _RemoteMiner:
    """A WeaknessMiner actor behind the plain miner interface the controller uses."""

    def __init__(self, handle):
        self.handle = handle

    def mine(self, traces, *, round: int, harness_id: str):
        import ray

        return ray.get(self.handle.mine.remote(traces, round=round, harness_id=harness_id))

    def state(self) -> dict:
        import ray

        return ray.get(self.handle.state.remote())


def run_loop(config: RunConfig, store: RunStore, log=print) -> FinalReport:
    """The whole loop on Ray."""
    import ray

    from cluster.compose import RolloutPipeline

    splits = load_splits(config)
    tasks = [t for ts in splits.values() for t in ts]
    pipeline = RolloutPipeline(tasks, model=config.model, sandbox=config.sandbox, concurrency=config.concurrency,
                               workers=config.workers)
    miners = []

    def factory(state):
        for old in miners:
            ray.kill(old)
        miners[:] = [ray.remote(WeaknessMiner).remote(**_miner_kwargs(config, pipeline.model), state=state)]
        return _RemoteMiner(miners[0])

    def run_batch(jobs, on_trace, desc):
        return pipeline.run_jobs(jobs, on_trace=on_trace, progress=config.progress, desc=desc)

    start = time.monotonic()
    try:
        report = _controller(config, store, splits, run_batch, pipeline.model, factory, log).run()
    finally:
        pipeline.close()
        for m in miners:
            ray.kill(m)
    log(f"run finished in {time.monotonic() - start:.0f}s: {store.root}")
    return report
