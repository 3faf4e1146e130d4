"""Rollouts: many episodes of one harness (or a calibration agent) on a set of tasks.

`RolloutWorker` is a plain class (a threaded Ray actor at the composition root) that runs
episodes concurrently; `summarize` turns traces into the numbers a person reads. Nothing
here imports Ray.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import msgspec

from actors import metrics
from actors.records import RolloutSummary
from harnesses.agent import run_episode
from harnesses.calibration import run_calibration_episode
from harnesses.model import Model
from harnesses.outcome import failure_cause, families
from harnesses.sandbox import SandboxBackend
from harnesses.spec import HarnessSpec
from harnesses.tasks import Task
from harnesses.trace import Trace


class EpisodeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which episode to run; (task, attempt, seed) pairs it with the same episode of another harness."""

    task: str
    attempt: int
    seed: int
    split: str = ""


def plan_episodes(tasks: list[Task], attempts: int, base_seed: int, split: str = "") -> list[EpisodeSpec]:
    return [EpisodeSpec(task=t.name, attempt=a, seed=base_seed + a, split=split)
            for a in range(attempts) for t in tasks]


def infra_error_trace(spec: EpisodeSpec, harness_id: str, model: str, error: str) -> Trace:
    """The trace of an episode the infrastructure lost (a crash, a dead worker): recorded, never counted."""
    return Trace(task=spec.task, harness_id=harness_id, model=model, attempt=spec.attempt, seed=spec.seed,
                 split=spec.split, infra_error=error, stop_reason="infra_error")


class RolloutWorker:
    """Runs episodes; thread-safe, so one worker can run several at once."""

    def __init__(self, tasks: list[Task], backend: SandboxBackend, model: Model | None,
                 harness: HarnessSpec | None, agent: str = "model",
                 lease: Callable[[], object] | None = None, release: Callable[[object], None] | None = None):
        self.tasks = {t.name: t for t in tasks}
        self.backend, self.model, self.harness, self.agent = backend, model, harness, agent
        self._lease, self._release = lease, release

    def run(self, spec: EpisodeSpec, harness: HarnessSpec | None = None) -> Trace:
        """Run one episode under `harness` (default: the worker's); its metrics are recorded."""
        trace = self._run(spec, harness)
        metrics.record_episode(trace)
        return trace

    def _run(self, spec: EpisodeSpec, harness: HarnessSpec | None) -> Trace:
        harness = harness or self.harness
        task = self.tasks[spec.task]
        token = self._lease() if self._lease else None
        try:
            if self.agent == "model":
                assert self.model is not None and harness is not None
                return run_episode(task, harness, self.model, self.backend, attempt=spec.attempt,
                                   seed=spec.seed, split=spec.split)
            return run_calibration_episode(self.agent, task, self.backend, attempt=spec.attempt, seed=spec.seed,
                                           split=spec.split)
        except Exception as e:  # one broken episode never stops a rollout
            return infra_error_trace(spec, harness.id if harness else self.agent,
                                     getattr(self.model, "name", self.agent), f"episode crashed: {type(e).__name__}: {e}")
        finally:
            if self._release and token is not None:
                self._release(token)

    def run_encoded(self, spec: EpisodeSpec, harness: HarnessSpec | None = None) -> bytes:
        """`run`, with the trace as JSON bytes (cheap to ship between processes)."""
        return msgspec.json.encode(self.run(spec, harness))


def summarize(traces: list[Trace], duration_s: float = 0.0) -> RolloutSummary:
    infra = sum(1 for t in traces if t.infra_error)
    passed = sum(1 for t in traces if t.passed)
    counted = len(traces) - infra
    causes = Counter(failure_cause(t) for t in traces if not t.passed)
    fams: Counter[str] = Counter()
    by_task: dict[str, list[int]] = {}
    for t in traces:
        fams.update(families(t))
        cell = by_task.setdefault(t.task, [0, 0])
        cell[0] += int(t.passed)
        cell[1] += 1
    return RolloutSummary(
        episodes=len(traces), passed=passed, failed=counted - passed, infra_errors=infra,
        pass_rate=passed / counted if counted else 0.0, by_cause=dict(causes.most_common()),
        by_family=dict(sorted(fams.items())), by_task=dict(sorted(by_task.items())), duration_s=duration_s,
        episodes_per_s=len(traces) / duration_s if duration_s > 0 else 0.0,
        prompt_tokens=sum(u.prompt_tokens for t in traces for u in t.turns),
        cached_tokens=sum(u.cached_tokens for t in traces for u in t.turns),
        completion_tokens=sum(u.completion_tokens for t in traces for u in t.turns),
        model_retries=sum(1 for t in traces for u in t.turns for e in u.model_events if e.startswith("attempt ")),
        infra_retries=sum(t.infra_retries for t in traces),
        tampered=sum(1 for t in traces if t.tampering))


def format_table(summary: RolloutSummary, title: str = "") -> str:
    """The table the CLI prints."""
    lines = [title] if title else []
    lines += [
        f"{'episodes':<16}{summary.episodes}",
        f"{'passed':<16}{summary.passed}",
        f"{'pass rate':<16}{summary.pass_rate:.1%}",
        f"{'infra errors':<16}{summary.infra_errors}",
        f"{'time':<16}{summary.duration_s:.1f}s ({summary.episodes_per_s:.2f} episodes/s)",
        f"{'tokens':<16}{summary.prompt_tokens} prompt, {summary.completion_tokens} completion",
    ]
    if summary.episodes:
        n = summary.episodes
        reuse = f", {summary.cached_tokens / summary.prompt_tokens:.0%} of it from the prefix cache" \
            if summary.cached_tokens and summary.prompt_tokens else ""
        lines.append(f"{'per episode':<16}{summary.prompt_tokens / n:,.0f} prompt{reuse}, "
                     f"{(summary.prompt_tokens - summary.cached_tokens) / n:,.0f} evaluated, "
                     f"{summary.completion_tokens / n:,.0f} completion")
    if summary.model_retries:
        lines.append(f"{'model retries':<16}{summary.model_retries}")
    if summary.infra_retries:
        lines.append(f"{'infra retries':<16}{summary.infra_retries} (episodes run again after a lost worker, "
                     "sandbox or model)")
    lines.append(f"verifier tampering  {summary.tampered} episodes" + (" (failures, whatever their reward)"
                                                                         if summary.tampered else ""))
    if summary.by_cause:
        lines.append("failures by cause:")
        lines += [f"  {cause:<22}{n}" for cause, n in summary.by_cause.items()]
    if summary.by_family:
        lines.append("failure families seen (episodes):")
        lines += [f"  {fam:<22}{n}" for fam, n in summary.by_family.items()]
    return "\n".join(lines)
