"""The run directory's files the views read besides the report's loader, all read here, each as
the one record type actors/run_dir.py gives it.

state.json, config.yaml, episodes.jsonl and a round's decision.json, pending.json and
candidate.yaml (cluster/report's load_run reads the rest, ApprovalStore approvals.jsonl). A run
that is still being written is read as far as it got: a missing file reads as empty, a torn line
is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

from actors.records import EpisodeLine, RunState
from actors.run_dir import CANDIDATE, EPISODES, STATE, RunFile, RunStore
from cluster.config import ConfigError, RunConfig, load_run_config
from harnesses.spec import HarnessSpec

T = TypeVar("T")

UNREADABLE = (OSError, msgspec.DecodeError, msgspec.ValidationError)
"""What read_round_record raises for a file that is there but is not its record."""


def _store(run_dir: Path) -> RunStore:
    return RunStore(run_dir, create=False)


def read_state(run_dir: Path) -> RunState:
    """state.json as the controller last wrote it (empty when missing or unreadable)."""
    try:
        return _store(run_dir).read(STATE) or RunState()
    except UNREADABLE:
        return RunState()


def read_config(run_dir: Path) -> RunConfig | None:
    """config.yaml (None when missing or unreadable: the run is listed without it)."""
    try:
        return load_run_config(run_dir)
    except ConfigError:
        return None


def read_episodes(run_dir: Path) -> list[EpisodeLine]:
    """episodes.jsonl, skipping a torn last line."""
    return _store(run_dir).lines(EPISODES)


def read_round_record(run_dir: Path, n: int, file: RunFile[T]) -> T | None:
    """A round's file as its record; None when it is not there, one of UNREADABLE raised when it is not one."""
    return _store(run_dir).read(file, round=n)


def read_candidate(run_dir: Path, n: int) -> HarnessSpec | None:
    """rounds/<n>/candidate.yaml, where the controller keeps a pending winner (None when missing or not a harness)."""
    try:
        return _store(run_dir).read(CANDIDATE, round=n)
    except (OSError, ValueError):
        return None
