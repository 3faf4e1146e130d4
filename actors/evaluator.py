"""Evaluations with memory: an episode (harness, split, task, attempt, seed) runs at most once
per run directory.

Every finished trace is written at once under `traces/<harness>/<split>/` and logged in
`episodes.jsonl`; asking again loads it. That makes a killed run resumable without redoing
finished episodes, and lets a promoted candidate's validation traces serve as the next
round's rollout.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from actors.rollout import EpisodeSpec
from actors.records import EpisodeLine
from actors.run_dir import EPISODES, RunStore
from harnesses.spec import HarnessSpec
from harnesses.tasks import Task
from harnesses.trace import Trace, load_trace
from harnesses.vocabulary import episode_id

Job = tuple[EpisodeSpec, HarnessSpec]
BatchRunner = Callable[[list[Job], Callable[[int, Trace], None], str, Callable[[int], bool]], list[Trace | None]]
"""Runs jobs (concurrently), calls back with (job index, trace) as each finishes, returns traces in order.
Its last argument says whether job i is recorded already: such a job is not run again (its slot is None),
the rule resume and infrastructure retries share (actors/scheduling.py)."""

Key = tuple[str, int]  # (task, attempt)


class Evaluator:
    def __init__(self, store: RunStore, run_batch: BatchRunner, splits: dict[str, list[Task]],
                 attempts: int, seed: int):
        self.store, self.run_batch, self.splits = store, run_batch, splits
        self.attempts, self.seed = attempts, seed
        self.episodes_run = 0
        self._lock = threading.Lock()

    def specs(self, split: str, tasks: list[str] | None = None) -> list[EpisodeSpec]:
        names = tasks if tasks is not None else [t.name for t in self.splits[split]]
        return [EpisodeSpec(task=n, attempt=a, seed=self.seed + a, split=split)
                for a in range(self.attempts) for n in names]

    def _path(self, harness_id: str, spec: EpisodeSpec) -> Path:
        return self.store.trace_path(harness_id, spec.split, episode_id(spec.task, harness_id, spec.attempt, spec.seed))

    def _save(self, trace: Trace, harness_id: str, split: str) -> None:
        with self._lock:
            if self.store.trace_path(harness_id, split, trace.episode_id).exists():
                return  # recorded once: a late duplicate of an episode changes nothing
            self.store.save_trace(trace, harness_id, split)
            self.store.append(EPISODES, EpisodeLine(group=f"{harness_id}/{split}", episode_id=trace.episode_id,
                                                    passed=trace.passed, infra=trace.infra_error is not None,
                                                    tampered=bool(trace.tampering)))
            self.episodes_run += 1

    def evaluate(self, requests: list[tuple[HarnessSpec, list[EpisodeSpec]]],
                 desc: str = "episodes") -> list[dict[Key, Trace]]:
        """Traces for every (harness, episodes) request; only the ones not on disk are run, all in one batch."""
        results: list[dict[Key, Trace]] = [{} for _ in requests]
        jobs: list[Job] = []
        owners: list[list[int]] = []
        queued: dict[Path, int] = {}
        for r, (harness, specs) in enumerate(requests):
            for spec in specs:
                path = self._path(harness.id, spec)
                if path in queued:  # asked twice in one batch (e.g. final == initial): run once
                    owners[queued[path]].append(r)
                elif path.exists():
                    results[r][(spec.task, spec.attempt)] = load_trace(path)
                else:
                    queued[path] = len(jobs)
                    jobs.append((spec, harness))
                    owners.append([r])
        if jobs:
            def on_trace(i: int, trace: Trace) -> None:
                spec, harness = jobs[i]
                self._save(trace, harness.id, spec.split)

            paths = list(queued)
            traces = self.run_batch(jobs, on_trace, desc, lambda i: paths[i].exists())
            for (spec, _), rs, trace, path in zip(jobs, owners, traces, paths):
                if trace is None:  # recorded by another life of the run while this batch waited
                    trace = load_trace(path)
                for r in rs:
                    results[r][(spec.task, spec.attempt)] = trace
        return results

    def evaluate_one(self, harness: HarnessSpec, split: str, desc: str = "") -> dict[Key, Trace]:
        return self.evaluate([(harness, self.specs(split))], desc or f"{split} {harness.id}")[0]
