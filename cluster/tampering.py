"""Verifier tampering in a run directory: which episodes left changes where the verifier lives.

Tampering is evidence against a harness (an episode with any is a failure whatever its reward),
so the report and the review app both show it: `scan` finds the episodes episodes.jsonl flags and
reads what they left from their traces.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.run_dir import EPISODES, RunStore
from harnesses.trace import Tampering
from harnesses.vocabulary import ACCEPTANCE_SPLITS, SPLITS

_ORDER = {s: i for i, s in enumerate(SPLITS)}


class TamperedEpisode(msgspec.Struct, frozen=True, kw_only=True):
    """One episode that tampered, and what it left (path, change, detail)."""

    episode_id: str
    harness_id: str
    split: str
    task: str
    tampering: list[Tampering]

    @property
    def group(self) -> str:
        """As episodes.jsonl names it: '<harness>/<split>'."""
        return f"{self.harness_id}/{self.split}"


class _Head(msgspec.Struct):
    """The part of a `Trace` the scan needs (msgspec skips the rest)."""

    task: str
    tampering: list[Tampering] = []


def scan(run_dir: Path) -> list[TamperedEpisode]:
    """Every episode of the run that tampered, by harness, split (train, val, test) and episode id.

    episodes.jsonl flags them (`tampered`, written by the evaluator); only their traces are read."""
    store = RunStore(run_dir, create=False)
    out = []
    for entry in store.lines(EPISODES):
        if not entry.tampered:
            continue
        harness, _, split = entry.group.partition("/")
        try:
            trace = msgspec.json.decode(store.trace_path(harness, split, entry.episode_id).read_bytes(), type=_Head)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
        out.append(TamperedEpisode(episode_id=entry.episode_id, harness_id=harness, split=split, task=trace.task,
                                   tampering=trace.tampering))
    return sorted({(e.harness_id, e.split, e.episode_id): e for e in out}.values(),
                  key=lambda e: (e.harness_id, _ORDER.get(e.split, 3), e.split, e.episode_id))


def count(episodes: list[TamperedEpisode], harness_ids: str | set[str],
          splits: tuple[str, ...] = ACCEPTANCE_SPLITS) -> int:
    """How many episodes of a harness (or of any of a set) on `splits` tampered."""
    ids = {harness_ids} if isinstance(harness_ids, str) else harness_ids
    return sum(1 for e in episodes if e.harness_id in ids and e.split in splits)


def round_count(episodes: list[TamperedEpisode], rnd, harness_id: str) -> int:
    """A round's tampering episodes (a cluster/report/load.py `Round`): its harness's rollout and its candidates'
    validation, train and val. A promoted candidate's episodes are the next round's rollout too."""
    ids = {harness_id, *(ab.candidate_id for ab in rnd.ab.values()),
           *(p.candidate_id for p in (rnd.proposals.proposals if rnd.proposals else []))}
    return count(episodes, ids - {""})


def report_blocks(episodes: list[TamperedEpisode], limit: int = 200) -> list[tuple]:
    """The report's section (document blocks, cluster/report/document.py), or nothing when no episode tampered."""
    if not episodes:
        return []
    rows = [[e.episode_id, e.split, t.path, t.change, t.detail] for e in episodes for t in e.tampering]
    note = (f"{len(episodes)} episode(s) left changes where the verifier lives (/tests, /logs/verifier) or changed "
            "the reward after it. Each counts as a failure whatever its reward, and is never an infrastructure "
            "error: read the traces (traces/<harness>/<split>/<episode>.json).")
    blocks: list[tuple] = [("h", 2, "Verifier tampering"), ("p", note),
                           ("table", ["episode", "split", "path", "change", "detail"], rows[:limit])]
    if len(rows) > limit:
        blocks.append(("p", f"{len(rows) - limit} more record(s) are in the traces."))
    return blocks
