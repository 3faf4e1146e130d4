"""Fixed train/val/test splits for a suite whose suite.yaml names none (Terminal-Bench 2.0 as published).

The one owner of the derivation. Tasks are grouped by (difficulty, category); each group, sorted by
name and shuffled by a seed made from sha256 of its key (never Python's randomized `hash`, so every
process deals the same), is dealt along one global cycle: val, train, test, train. Every four tasks
in a row give train 2, val 1, test 1, so each group gets its share within one task; groups are dealt
one after another along the same cycle, so a small group's leftover lands where the totals need it,
any suite of >= 3 tasks has all three splits, and (groups of one difficulty being next to each other)
every difficulty with >= 2 tasks has one in train.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from typing import Iterable, Protocol

from harnesses.vocabulary import SPLITS, Split

DEAL: tuple[Split, ...] = ("val", "train", "test", "train")
"""The cycle tasks are dealt along: train 50%, val 25%, test 25%."""
SEED = "selfharness-splits-1"
"""Part of every group's seed: changing it deals every derived suite anew."""
RULE = ("derived: train/val/test ~50/25/25, stratified by (difficulty, category), each stratum sorted by name "
        f"and shuffled by sha256('{SEED}/<difficulty>/<category>'), dealt along the cycle {'/'.join(DEAL)}")
"""What a derived split says about itself (the log, the run directory's record)."""


class Stratified(Protocol):
    name: str
    difficulty: str
    category: str


def stratum_seed(difficulty: str, category: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{SEED}/{difficulty}/{category}".encode()).digest()[:8], "big")


def derive_splits(tasks: Iterable[Stratified]) -> dict[str, list[str]]:
    """Each task's name in exactly one of train, val and test (each list sorted by name)."""
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for task in tasks:
        strata[(task.difficulty, task.category)].append(task.name)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    dealt = 0
    for key in sorted(strata):
        names = sorted(strata[key])
        random.Random(stratum_seed(*key)).shuffle(names)
        for name in names:
            splits[DEAL[dealt % len(DEAL)]].append(name)
            dealt += 1
    return {s: sorted(names) for s, names in splits.items()}
