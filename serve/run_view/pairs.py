"""A proposal's paired A/B table, from episodes.jsonl: each (task, attempt, seed) on train and val,
parent against candidate, with each side's trace and whether it tampered with the verifier."""

from __future__ import annotations

from pathlib import Path

import msgspec

from harnesses.vocabulary import ACCEPTANCE_SPLITS, parse_episode_id
from serve.run_view.files import read_episodes


class PairRow(msgspec.Struct, kw_only=True):
    task: str
    attempt: int
    seed: int
    parent: bool | None
    """Passed, failed, or None when the episode did not run (racing stopped it, or an infra error)."""
    candidate: bool | None
    parent_trace: str = ""
    candidate_trace: str = ""
    parent_tampered: bool = False
    candidate_tampered: bool = False


def pairs(run_dir: Path, parent_id: str, candidate_id: str) -> dict[str, list[PairRow]]:
    """The paired A/B table: each (task, attempt, seed) on train and val, parent vs candidate, tampering marked."""
    by_group: dict[str, dict[tuple, tuple[bool | None, str, bool]]] = {}
    for e in read_episodes(run_dir):
        try:
            k = parse_episode_id(e.episode_id)
        except ValueError:
            continue
        by_group.setdefault(e.group, {})[(k.task, k.attempt, k.seed)] = (
            None if e.infra else e.passed, e.episode_id, e.tampered)
    out, none = {}, (None, "", False)
    for split in ACCEPTANCE_SPLITS:
        a, b = by_group.get(f"{parent_id}/{split}", {}), by_group.get(f"{candidate_id}/{split}", {})
        out[split] = [PairRow(task=k[0], attempt=k[1], seed=k[2], parent=pa, candidate=ca, parent_trace=pt,
                              candidate_trace=ct, parent_tampered=px, candidate_tampered=cx)
                      for k in sorted(set(a) | set(b))
                      for (pa, pt, px), (ca, ct, cx) in [(a.get(k, none), b.get(k, none))]]
    return out
