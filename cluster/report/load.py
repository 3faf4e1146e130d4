"""The report's reader of a run directory: every file the report uses, as typed data.

A run may have stopped early or be still going, so nothing here raises on a missing or
unreadable file: `load_run` reads what exists of the typed records the loop writes
(actors/records.py) and lists the rest in `Run.problems`. The harness files and the traces
(verifier tampering, cluster/tampering.py) are read on first use. Everything else in
cluster/report/ works from the `Run` this returns and never opens a run-directory file itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from actors.records import (ABResult, Adopted, Decision, FinalReport, LineageEntry, MiningReport, NoiseFloor,
                            ProposalsFile, RoundRecord, RunState)
from actors.run_dir import (AB, ADOPTED, DECISION, EPISODES, FINAL, HARNESS, LINEAGE, MINING, NOISE, PROPOSALS, ROUND,
                            STATE, RunFile, RunStore)
from cluster import tampering
from cluster.config import ConfigError, RunConfig, load_run_config
from harnesses.spec import HarnessSpec


@dataclass
class Round:
    """Everything on disk for one round (None where the file is missing or unreadable)."""

    n: int
    mining: MiningReport | None = None
    proposals: ProposalsFile | None = None
    ab: dict[str, ABResult] = field(default_factory=dict)
    decision: Decision | None = None
    record: RoundRecord | None = None
    adopted: Adopted | None = None
    """A winner of an earlier round, approved since, that this round started from (`while_waiting: continue`)."""
    noise: NoiseFloor | None = None
    """The round's A/A check, when the run measured one."""


@dataclass
class Run:
    """What a run directory holds, as far as it could be read."""

    root: Path
    config: RunConfig | None
    state: RunState
    rounds: list[Round]
    final: FinalReport | None
    lineage: list[LineageEntry]
    problems: list[str]
    episodes: int = 0
    passed: int = 0
    _harnesses: dict = field(default_factory=dict)
    _tampered: list | None = None

    @property
    def tampered(self) -> list[tampering.TamperedEpisode]:
        """The run's episodes that tampered with the verifier (read from the traces on first use)."""
        if self._tampered is None:
            self._tampered = tampering.scan(self.root)
        return self._tampered

    def harness(self, hid: str) -> HarnessSpec | None:
        """harnesses/<hid>.yaml, or None when it is missing or unreadable."""
        if hid not in self._harnesses:
            try:
                self._harnesses[hid] = RunStore(self.root, create=False).read(HARNESS, harness=hid) if hid else None
            except (OSError, ValueError) as e:
                self.problems.append(f"{HARNESS.rel(harness=hid)}: unreadable: {e}")
                self._harnesses[hid] = None
        return self._harnesses[hid]

    @property
    def initial_id(self) -> str:
        if self.final:
            return self.final.initial_id
        first = next((e for e in self.lineage if not e.parent), None)
        if first:
            return first.id
        if not self.rounds:
            return ""
        r = self.rounds[0]
        return (r.record and r.record.harness_id) or (r.mining and r.mining.harness_id) or ""

    @property
    def final_id(self) -> str:
        if self.final:
            return self.final.final_id
        for r in reversed(self.rounds):
            if r.decision:
                return r.decision.promoted_id
        return self.state.harness_id or self.initial_id

    @property
    def finished(self) -> bool:
        return self.final is not None


def _read(store: RunStore, file: RunFile, problems: list[str], required: bool = True, **keys) -> Any:
    rel = file.rel(**keys)
    try:
        got = store.read(file, **keys)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        problems.append(f"{rel}: unreadable: {e}")
        return None
    if got is None and required:
        problems.append(f"{rel}: missing")
    return got


def load_run(root: Path) -> Run:
    """Read what exists of a run directory; what is missing goes into `problems`."""
    store = RunStore(root, create=False)
    problems: list[str] = []
    config = None
    try:
        config = load_run_config(store.root)
    except ConfigError as e:
        problems.append(f"config.yaml: {'missing' if 'no config.yaml' in str(e) else f'unreadable: {e}'}")
    state = _read(store, STATE, problems) or RunState()
    rounds = []
    for n in store.rounds():
        r = Round(n)
        r.mining = _read(store, MINING, problems, round=n)
        r.proposals = _read(store, PROPOSALS, problems, round=n)
        for pid in store.proposal_ids(n):
            ab = _read(store, AB, problems, round=n, proposal=pid)
            if ab:
                r.ab[ab.proposal_id or pid] = ab
        r.decision = _read(store, DECISION, problems, round=n)
        r.record = _read(store, ROUND, problems, round=n)
        r.adopted = _read(store, ADOPTED, problems, required=False, round=n)
        r.noise = _read(store, NOISE, problems, required=False, round=n)
        rounds.append(r)
    final = _read(store, FINAL, problems, required=False)
    eps = store.lines(EPISODES, problems)
    return Run(store.root, config, state, rounds, final, store.lines(LINEAGE, problems), problems,
               episodes=len(eps), passed=sum(e.passed for e in eps))
