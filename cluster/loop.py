"""Composing a Self-Harness run: on Ray (the product) or in one process (tests, benchmarks).

On Ray: the ModelServer, SandboxPool and RolloutWorker actors of a `RolloutPipeline`
serve every rollout and validation of the run; the miner is an actor holding the FAISS
index; the proposer asks the same ModelServer. The loop runs inside the run's detached
controller actor (cluster/controller.py) and keeps everything in the run directory, so
a restarted controller, like `resume`, is running it again.
"""

from __future__ import annotations

import time

from actors.controller import Controller
from actors.evaluator import Evaluator
from actors.miner import WeaknessMiner
from actors.mining.labeller import ModelLabeller
from actors.model.config import SimModelConfig
from actors.model.server import build_model
from actors.proposer import Proposer
from actors.records import FinalReport
from actors.rollout import RolloutWorker, infra_error_trace
from actors.scheduling import run_in_threads
from actors.run_dir import RunStore
from actors.suite_splits import pin_splits
from actors.sandbox.factory import build_backend
from cluster.config import REPO_ROOT, ConfigError, RunConfig, resolve_path, resolve_suite, save_run_config
from harnesses.spec import load_harness
from harnesses.tasks import Task, load_suite
from harnesses.vocabulary import SPLITS


def load_splits(config: RunConfig, store: RunStore | None = None, log=print) -> dict[str, list[Task]]:
    """The run's tasks per split: the suite's, or (a suite without suite.yaml splits) the ones this run derived
    at its start and keeps in `store` (actors/suite_splits.py)."""
    suite = load_suite(resolve_suite(config.suite))
    if store is not None:
        suite = pin_splits(store, suite, log)
    missing = [s for s in SPLITS if not suite.splits.get(s)]
    if missing:
        where = "suite.yaml has" if suite.splits_source == "suite.yaml" else f"its {len(suite.tasks)} task(s) give"
        raise ConfigError(f"suite {config.suite!r}: {where} no tasks in split(s) {missing}; "
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


def _controller(config: RunConfig, store: RunStore, splits, run_batch, proposer_model, miner_factory,
                log) -> Controller:
    evaluator = Evaluator(store, run_batch, splits, config.attempts, config.seed)
    initial = load_harness(resolve_path(config.initial_harness))
    proposer = Proposer(proposer_model, max_tokens=config.proposer.max_tokens)
    return Controller(config.loop(), store, evaluator, miner_factory, proposer, initial, log=log)


def _miner_kwargs(config: RunConfig, model) -> dict:
    m = config.mining
    wanted = m.model_labels if m.model_labels is not None else not isinstance(config.model, SimModelConfig)
    labeller = ModelLabeller(model, config.seed) if wanted else None
    return dict(embedder=m.embedder, threshold=m.threshold, min_failures=m.min_failures, min_tasks=m.min_tasks,
                max_examples=m.max_examples, labeller=labeller)


def run_loop_bare(config: RunConfig, store: RunStore, log=lambda *_: None) -> FinalReport:
    """The whole loop in this process: threads pull episodes, the model is in-process."""
    splits = load_splits(config, store, log)
    tasks = [t for ts in splits.values() for t in ts]
    model = build_model(config.model, tasks)
    worker = RolloutWorker(tasks, build_backend(config.sandbox), model, None)

    def lost(job, reason: str, tries: int):
        spec, harness = job
        return infra_error_trace(spec, harness.id, model.name, reason)

    def run_batch(jobs, on_trace, desc, recorded):
        return run_in_threads(jobs, lambda job: worker.run(*job), concurrency=config.concurrency,
                              max_infra_retries=config.max_infra_retries, infra_trace=lost, recorded=recorded,
                              on_trace=on_trace)

    factory = lambda state: WeaknessMiner(**_miner_kwargs(config, model), state=state)  # noqa: E731
    proposer = build_model(config.proposer.model, tasks) if config.proposer.model else model
    return _controller(config, store, splits, run_batch, proposer, factory, log).run()


class _RemoteMiner:
    """A WeaknessMiner actor behind the plain miner interface the controller uses; the state it answers is
    the one its last report was mined with (one call brings both, whatever restarts in between)."""

    def __init__(self, handle):
        self.handle = handle
        self._state = None

    def mine(self, traces, *, round: int, harness_id: str):
        import ray

        report, self._state = ray.get(self.handle.mine_with_state.remote(traces, round=round, harness_id=harness_id))
        return report

    def state(self):
        import ray

        return self._state if self._state is not None else ray.get(self.handle.state.remote())


class LoopOnRay:
    """The loop's parts on Ray (a RolloutPipeline, a miner actor), built where it runs: in the run's
    controller actor (cluster/controller.py). `controller` and `pipeline` are what live status reads."""

    def __init__(self, config: RunConfig, store: RunStore, log=print):
        self.config, self.store, self.log = config, store, log
        self.controller: Controller | None = None
        self.pipeline = None

    def run(self) -> FinalReport:
        import ray

        from cluster.compose import CONTROL, RolloutPipeline

        config, store = self.config, self.store
        splits = load_splits(config, store, self.log)
        tasks = [t for ts in splits.values() for t in ts]
        self.pipeline = pipeline = RolloutPipeline(tasks, model=config.model, sandbox=config.sandbox,
                                                   concurrency=config.concurrency, workers=config.workers,
                                                   max_infra_retries=config.max_infra_retries)
        miners = []

        def factory(state):
            for old in miners:
                ray.kill(old, no_restart=True)
            Miner = ray.remote(WeaknessMiner).options(**CONTROL)
            miners[:] = [Miner.remote(**_miner_kwargs(config, pipeline.model), state=state)]
            return _RemoteMiner(miners[0])

        start = time.monotonic()
        proposer_server = None
        try:
            proposer = pipeline.model
            if config.proposer.model is not None:
                from actors.model.server import RemoteModel
                from cluster.compose import start_model_server

                proposer_server = start_model_server(config.proposer.model, tasks, 1)
                proposer = RemoteModel(proposer_server, ray.get(proposer_server.stats.remote())["model"])
            self.controller = _controller(config, store, splits, pipeline.batch_runner(config.progress), proposer,
                                          factory, self.log)
            report = self.controller.run()
        finally:
            if proposer_server is not None:
                from cluster.compose import stop_model_server

                stop_model_server(config.proposer.model, proposer_server)
            pipeline.close()
            for m in miners:
                ray.kill(m, no_restart=True)
        self.log(f"run finished in {time.monotonic() - start:.0f}s: {store.root}")
        return report
