"""The run directory: every path in it, and the one record type of every file in it.

Writers and readers (the controller, the evaluator, approvals, resume, the report, the export,
the review app) name a file by its `RunFile` below and never spell a path themselves, so a file
has one layout and one type wherever it is read. Append-only: traces are written once, by
episode id; a rerun skips what exists.

```
config.yaml                     the run's config (cluster/config.py: RunConfig, or RolloutConfig)
state.json                      RunState: round and stage while it runs
lineage.jsonl                   LineageEntry per harness promoted
episodes.jsonl                  EpisodeLine per episode recorded
approvals.jsonl                 Verdict per person's verdict
final.json                      FinalReport: the sealed test split
summary.json                    RolloutSummary (a `selfharness rollout`)
suite_splits.json               SuiteSplits: the splits derived for a suite without suite.yaml splits
harnesses/<harness>.yaml        HarnessSpec of every harness the run made or started from
traces/<harness>/<split>/<episode>.json   Trace
rounds/<n>/round.json           RoundRecord     rounds/<n>/mining.json     MiningReport
rounds/<n>/miner_state.json     MinerState      rounds/<n>/brief.json      MiningBrief
rounds/<n>/proposals.json       ProposalsFile   rounds/<n>/ab/<proposal>.json  ABResult
rounds/<n>/decision.json        Decision        rounds/<n>/pending.json    Pending
rounds/<n>/candidate.yaml       HarnessSpec     rounds/<n>/adopted.json    Adopted
report.md  report.html  report/<plot>.png      the report (cluster/report/)
```
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from actors.mining.state import MinerState
from actors.records import (ABResult, Adopted, CalibrationReport, Decision, EpisodeLine, FinalReport, LineageEntry,
                            MiningBrief, MiningReport, NoiseFloor, Pending, ProposalsFile, RolloutSummary, RoundRecord,
                            RunState, SuiteSplits, Verdict)
from harnesses.spec import HarnessSpec, load_harness, save_harness
from harnesses.trace import Trace, save_trace

T = TypeVar("T")


@dataclass(frozen=True)
class RunFile(Generic[T]):
    """One kind of file: where it is (a pattern over round, proposal, harness, split, episode) and its type."""

    pattern: str
    type: Any
    """The msgspec type of its content (of each line for .jsonl); None for files another layer types."""

    def rel(self, **keys: object) -> str:
        return self.pattern.format(**keys)


CONFIG = RunFile("config.yaml", None)
STATE = RunFile("state.json", RunState)
LINEAGE = RunFile("lineage.jsonl", LineageEntry)
EPISODES = RunFile("episodes.jsonl", EpisodeLine)
APPROVALS = RunFile("approvals.jsonl", Verdict)
FINAL = RunFile("final.json", FinalReport)
SUMMARY = RunFile("summary.json", RolloutSummary)
CALIBRATION = RunFile("calibration.json", CalibrationReport)
SUITE_SPLITS = RunFile("suite_splits.json", SuiteSplits)
HARNESS = RunFile("harnesses/{harness}.yaml", HarnessSpec)
TRACE = RunFile("traces/{harness}/{split}/{episode}.json", Trace)
ROUND = RunFile("rounds/{round}/round.json", RoundRecord)
MINING = RunFile("rounds/{round}/mining.json", MiningReport)
MINER_STATE = RunFile("rounds/{round}/miner_state.json", MinerState)
BRIEF = RunFile("rounds/{round}/brief.json", MiningBrief)
PROPOSALS = RunFile("rounds/{round}/proposals.json", ProposalsFile)
AB = RunFile("rounds/{round}/ab/{proposal}.json", ABResult)
NOISE = RunFile("rounds/{round}/noise.json", NoiseFloor)
DECISION = RunFile("rounds/{round}/decision.json", Decision)
PENDING = RunFile("rounds/{round}/pending.json", Pending)
CANDIDATE = RunFile("rounds/{round}/candidate.yaml", HarnessSpec)
ADOPTED = RunFile("rounds/{round}/adopted.json", Adopted)
REPORT_MD = RunFile("report.md", None)
REPORT_HTML = RunFile("report.html", None)
REPORT_PLOTS = RunFile("report", None)
MERGE_ID = "merge"
"""The proposal id of a round's merged candidate (rounds/<n>/ab/merge.json)."""


class RunStore:
    def __init__(self, root: Path | str, *, create: bool = True):
        """`create=False`: a view that makes nothing until something is written (the review app, the report)."""
        self.root = Path(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def new(cls, base: Path | str, prefix: str) -> "RunStore":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        root = Path(base) / f"{prefix}-{stamp}"
        n = 1
        while root.exists():
            n += 1
            root = Path(base) / f"{prefix}-{stamp}-{n}"
        return cls(root)

    @staticmethod
    def is_run(path: Path) -> bool:
        """A directory a run (or a rollout) wrote."""
        return path.is_dir() and ((path / STATE.pattern).is_file() or (path / CONFIG.pattern).is_file())

    # -- paths -------------------------------------------------------------------------------

    def path(self, file: RunFile, **keys: object) -> Path:
        return self.root / file.rel(**keys)

    def exists(self, file: RunFile, **keys: object) -> bool:
        return self.path(file, **keys).exists()

    def rounds(self) -> list[int]:
        """The rounds that have a directory, in order."""
        base = self.root / "rounds"
        return sorted(int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()) if base.is_dir() else []

    def proposal_ids(self, round: int) -> list[str]:
        """The proposals of a round that have an A/B result, the merge last."""
        names = [p.stem for p in self.path(AB, round=round, proposal="x").parent.glob("*.json")]
        return sorted(names, key=lambda n: (n == MERGE_ID, n))

    def traces_dir(self, harness: str, split: str) -> Path:
        return self.path(TRACE, harness=harness, split=split, episode="x").parent

    def trace_path(self, harness: str, split: str, episode: str) -> Path:
        return self.path(TRACE, harness=harness, split=split, episode=episode)

    # -- typed reading and writing -------------------------------------------------------------

    def read(self, file: RunFile[T], **keys: object) -> T | None:
        """The file's record, None when it does not exist (msgspec.DecodeError when it is broken)."""
        path = self.path(file, **keys)
        if not path.exists():
            return None
        if file.type is HarnessSpec:
            return load_harness(path)
        return msgspec.json.decode(path.read_bytes(), type=file.type)

    def write(self, file: RunFile[T], record: T, **keys: object) -> Path:
        """Atomically (a reader never sees half a file)."""
        path = self.path(file, **keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        if file.type is HarnessSpec:
            save_harness(record, path)
            return path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(record), indent=2))
        tmp.replace(path)
        return path

    def write_text(self, file: RunFile, text: str, **keys: object) -> Path:
        path = self.path(file, **keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def append(self, file: RunFile[T], record: T) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.path(file), "ab") as f:
            f.write(msgspec.json.encode(record) + b"\n")

    def lines(self, file: RunFile[T], problems: list[str] | None = None) -> list[T]:
        """Every line that decodes; a broken line (a torn last line of a killed writer) is skipped, and
        named in `problems` when given."""
        path = self.path(file)
        if not path.exists():
            return []
        out = []
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(msgspec.json.decode(line, type=file.type))
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                if problems is not None:
                    problems.append(f"{file.pattern} line {n}: {e}")
        return out

    def count_lines(self, file: RunFile) -> int:
        path = self.path(file)
        return sum(1 for _ in path.open("rb")) if path.exists() else 0

    # -- traces ----------------------------------------------------------------------------------

    def save_trace(self, trace: Trace, harness: str | None = None, split: str | None = None) -> Path:
        """Under the harness and split it ran for (by default, the trace's own)."""
        return save_trace(trace, self.traces_dir(harness or trace.harness_id, trace.split if split is None else split))
