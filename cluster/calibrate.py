"""`selfharness tasks calibrate`: which tasks of a suite a model solves under some harness, and the subset
of them a run on that model can afford (a suite.yaml with `tasks_from` and `max_turns`).

A small model solves few tasks, and a run on tasks it solves under no harness spends its budget
learning nothing. The harnesses are tried in order (the minimal one, then every mitigation on); a
task an earlier one solved is not tried again unless `every`. With `screen`, one harness (the strongest)
runs on every task first and the others only on the tasks it solved: on a model that solves one task
in ten that costs half as much, and still tells a task with headroom (the first harness fails it)
from one without. Episodes are kept as a run keeps them: calibrating again into the same run
directory runs nothing that finished.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
import yaml

from actors.config import Config
from actors.evaluator import Evaluator
from actors.model.config import ModelConfig, SimModelConfig, model_label
from actors.records import CalibrationReport, CalibrationTask
from actors.run_dir import CALIBRATION, RunStore
from actors.sandbox.config import LocalSandboxConfig, SandboxConfig
from actors.suite_splits import pin_splits
from cluster.config import ConfigError, resolve_path, resolve_suite
from harnesses.spec import load_harness
from harnesses.tasks import load_suite

SUBSET_REPORT = "calibration.json"
"""The calibration's report, kept next to the subset's suite.yaml: the evidence for its choice."""


FREE = ("out", "run_dir", "progress", "want", "name", "resplit", "fill", "difficulties")
"""Fields a calibration's run directory may change: which tasks, how many to keep and where. They choose
among the episodes run (or add tasks to them); every other field decides what an episode is."""


class CalibrateConfig(Config):
    """A calibration: harnesses tried in order on every task of a suite, and the subset it keeps."""

    suite: str = "core"
    harnesses: list[str] = msgspec.field(default_factory=lambda: ["harnesses/minimal.yaml",
                                                                  "harnesses/reference/qwen.yaml"])
    model: ModelConfig = SimModelConfig()
    sandbox: SandboxConfig = LocalSandboxConfig()
    attempts: int = 1
    seed: int = 0
    max_turns: int | None = None
    """The turn budget of every episode (suite.yaml `max_turns`), written into the subset so a run on it
    gets the budget its tasks were chosen under."""
    want: dict[str, int] = msgspec.field(default_factory=lambda: {"train": 8, "val": 4, "test": 6})
    """Tasks to keep per split; a split keeps only tasks solved under some harness, so it may get fewer."""
    every: bool = False
    """Try every harness on every task (default: a task an earlier harness solved is not tried again)."""
    screen: str | None = None
    """A harness file run on every task first; the `harnesses` then run only on the tasks it solved."""
    difficulties: list[str] | None = None
    """Only tasks of these difficulties (task.toml `difficulty`), e.g. [easy] for a small model on CPU
    whose hour would go to hard tasks it never solves; None: every task."""
    resplit: bool = False
    """Deal the solved tasks of all splits anew (train, val and test of the subset, in `want`'s shares):
    for a model that solves too few for every split to keep its own. The subset is then a suite of its
    own whose test split is sealed to runs on it, not a part of the source suite's test split."""
    fill: bool = False
    """Fill a split short of solved tasks with its own unsolved ones, the fastest first: for a model that
    solves too few to run the loop on solved tasks alone. There the loop works on the model's real failures,
    and a gain means a candidate did better than every harness calibrated (calibration.json says which)."""
    out: str | None = None
    """The subset suite's folder (written: suite.yaml and calibration.json); None: only the report."""
    name: str | None = None
    """The subset's name (default: its folder's)."""
    concurrency: int = 1
    workers: int = 1
    max_infra_retries: int = 2
    run_dir: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.harnesses:
            raise ValueError("harnesses: name at least one harness file")
        for name in ("attempts", "concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError("max_turns: must be at least 1")
        bad = {s: n for s, n in self.want.items() if n < 1}
        if bad:
            raise ValueError(f"want: every split needs at least 1 task, got {bad}")


def choose(tasks: list[CalibrationTask], want: dict[str, int], first: str, resplit: bool = False,
           fill: bool = False) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Per split, the solved tasks to keep: first those the first harness did not always solve (where a
    run can gain), then those it did (where it can lose), the fastest first within each. With `resplit`,
    the solved tasks of every split are dealt anew, in that order, to the split furthest from its share.
    With `fill`, a split short of solved tasks takes its own unsolved ones, the fastest first."""
    def order(ts: list[CalibrationTask]) -> list[CalibrationTask]:
        return sorted(ts, key=lambda t: (t.passed.get(first, 0) >= t.attempts, t.seconds, t.task))

    solved = [t for t in tasks if any(t.passed.values())]
    if resplit:
        splits = {s: [] for s in want}
        for t in order(solved):
            room = [s for s in want if len(splits[s]) < want[s]]
            if room:
                splits[min(room, key=lambda s: (len(splits[s]) / want[s], -want[s]))].append(t.task)
    else:
        splits = {s: [t.task for t in order([t for t in solved if t.split == s])][:n] for s, n in want.items()}
    if fill:
        for s, n in want.items():
            unsolved = sorted((t for t in tasks if t.split == s and not any(t.passed.values())),
                              key=lambda t: (t.seconds, t.task))
            splits[s] += [t.task for t in unsolved][:n - len(splits[s])]
    return splits, {s: n - len(splits[s]) for s, n in want.items() if len(splits[s]) < n}


def calibrate(config: CalibrateConfig, store: RunStore, log=print) -> CalibrationReport:
    from cluster.compose import RolloutPipeline

    start = time.monotonic()
    suite = pin_splits(store, load_suite(resolve_suite(config.suite)), log)
    missing = [s for s in config.want if not suite.splits.get(s)]
    if missing:
        raise ConfigError(f"suite {config.suite!r}: no tasks in split(s) {missing}")
    splits = {s: [t for t in suite.split(s) if config.difficulties is None or t.difficulty in config.difficulties]
              for s in config.want}
    empty = [s for s, ts in splits.items() if not ts]
    if empty:
        raise ConfigError(f"difficulties: split(s) {empty} of {config.suite!r} hold no task of {config.difficulties}")
    if config.max_turns is not None:
        splits = {s: [msgspec.structs.replace(t, max_turns=config.max_turns) for t in ts] for s, ts in splits.items()}
    harnesses = [load_harness(resolve_path(h)) for h in config.harnesses]
    screen = load_harness(resolve_path(config.screen)) if config.screen else None
    order = ([screen] if screen else []) + [h for h in harnesses if not screen or h.id != screen.id]  # screen first
    tasks = [t for ts in splits.values() for t in ts]
    pipeline = RolloutPipeline(tasks, model=config.model, sandbox=config.sandbox, concurrency=config.concurrency,
                               workers=config.workers, max_infra_retries=config.max_infra_retries)
    passed: dict[str, dict[str, int]] = {t.name: {} for t in tasks}
    seconds: dict[str, list[float]] = {t.name: [] for t in tasks}
    try:
        evaluator = Evaluator(store, pipeline.batch_runner(config.progress), splits, config.attempts, config.seed)
        for harness in order:
            if screen and harness is not screen:  # the tasks the screen solved, every harness on each
                todo = {s: [t.name for t in ts if passed[t.name].get(screen.name)] for s, ts in splits.items()}
            else:
                todo = {s: [t.name for t in ts if config.every or not any(passed[t.name].values())]
                        for s, ts in splits.items()}
            results = evaluator.evaluate([(harness, evaluator.specs(s, names)) for s, names in todo.items()],
                                         f"calibrate {harness.name}")
            for traces in results:
                for (name, _), trace in traces.items():
                    passed[name][harness.name] = passed[name].get(harness.name, 0) + int(trace.passed)
                    seconds[name].append(trace.duration_s)
            log(f"{harness.name}: {sum(p.get(harness.name, 0) for p in passed.values())} passed of "
                f"{sum(len(v) for v in todo.values()) * config.attempts} episodes")
    finally:
        pipeline.close()
    rows = [CalibrationTask(task=t.name, split=s, passed=passed[t.name], attempts=config.attempts,
                            seconds=sum(seconds[t.name]) / max(1, len(seconds[t.name])))
            for s, ts in splits.items() for t in ts]
    chosen, short = choose(rows, config.want, harnesses[0].name, config.resplit, config.fill)
    kept = {n for names in chosen.values() for n in names}
    for row in rows:
        row.kept = row.task in kept
    names = [h.name for h in harnesses] + ([screen.name] if screen and screen not in harnesses else [])
    report = CalibrationReport(suite=suite.name, model=model_label(config.model), harnesses=names,
                               screen=screen.name if screen else None, difficulties=config.difficulties,
                               resplit=config.resplit, fill=config.fill,
                               max_turns=config.max_turns, tasks=rows, splits=chosen, short=short,
                               seconds=time.monotonic() - start,
                               episode_seconds=sum(sum(v) for v in seconds.values()))
    store.write(CALIBRATION, report)
    if config.out:
        write_subset(Path(config.out), Path(tasks[0].path).parent, report, config.name)  # where the task folders are
    return report


def write_subset(out: Path, source: Path, report: CalibrationReport, name: str | None = None) -> Path:
    """The subset suite: a suite.yaml that takes its tasks from `source`, and the report that chose them."""
    empty = [s for s, names in report.splits.items() if not names]
    if empty:
        raise ConfigError(f"no task of split(s) {empty} was solved under any harness: no subset to write")
    out.mkdir(parents=True, exist_ok=True)
    others = ", ".join(h for h in report.harnesses if h != report.screen)
    how = [f"{report.screen} on every task, then {others} on those it solved" if report.screen
           else " then ".join(report.harnesses)]
    how += [f"{'/'.join(report.difficulties)} tasks only"] if report.difficulties else []
    how += [f"{report.tasks[0].attempts if report.tasks else 1} attempt(s)"]
    how += [f"at most {report.max_turns} turns"] if report.max_turns else []
    then = ["Each split lists first the tasks the first harness failed"]
    then += ["the solved tasks of every split were dealt anew (resplit)"] if report.resplit else []
    then += ["a split short of solved tasks was filled with its unsolved ones, fastest first (fill)"] if report.fill else []
    meta = {"name": name or out.name,
            "description": (f"Chosen by `selfharness calibrate` for {report.model}: the tasks of {report.suite} it "
                            f"solved under some harness ({'; '.join(how)}). {'; '.join(then)}. calibration.json holds "
                            "the evidence."),
            "tasks_from": os.path.relpath(source.resolve(), out.resolve())}
    if report.max_turns is not None:
        meta["max_turns"] = report.max_turns
    meta["splits"] = report.splits
    (out / "suite.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, width=110))
    (out / SUBSET_REPORT).write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    return out


def format_calibration(report: CalibrationReport) -> str:
    """The table the CLI prints: a row per task, a column per harness."""
    width = max([len(t.task) for t in report.tasks] + [4])
    head = f"{'task':<{width}}  {'split':<5}  " + "  ".join(f"{h:>14}" for h in report.harnesses) + "  seconds  kept"
    lines = [f"calibration of {report.model} on {report.suite}", head]
    for t in sorted(report.tasks, key=lambda t: (t.split, not t.kept, t.task)):
        cells = "  ".join(f"{(f'{t.passed[h]}/{t.attempts}' if h in t.passed else '-'):>14}" for h in report.harnesses)
        lines.append(f"{t.task:<{width}}  {t.split:<5}  {cells}  {t.seconds:7.0f}  {'yes' if t.kept else ''}")
    for split, names in report.splits.items():
        lines.append(f"{split}: {len(names)} kept" + (f" ({report.short[split]} fewer than wanted)"
                                                      if split in report.short else ""))
    lines.append(f"{report.episode_seconds / 60:.1f} minutes of episodes ({report.seconds / 60:.1f} this time)")
    return "\n".join(lines)
