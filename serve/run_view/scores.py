"""Pass rates with their 95% Wilson band, and the episode counts progress is measured in.

The run's rounds table (rounds.py) and its sealed test result (runs.py) both show a Score; the
counts per harness and split come from episodes.jsonl, the planned totals from the run's suite.
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from actors.records import EpisodeLine
from actors.run_dir import SUITE_SPLITS, RunStore
from actors.stats import wilson_interval
from cluster.config import RunConfig
from cluster.report import Run
from harnesses.vocabulary import SPLITS


class Score(msgspec.Struct, kw_only=True):
    split: str
    harness_id: str
    passed: int
    episodes: int
    rate: float
    low: float
    high: float
    """95% Wilson interval."""
    partial: bool = False
    """Counted from the episodes finished so far (the round is still running)."""


def score(split: str, harness_id: str, passed: int, episodes: int, partial: bool = False) -> Score:
    lo, hi = wilson_interval(passed, episodes)
    return Score(split=split, harness_id=harness_id, passed=passed, episodes=episodes,
                 rate=passed / episodes if episodes else 0.0, low=lo, high=hi, partial=partial)


def group_counts(eps: list[EpisodeLine]) -> dict[str, tuple[int, int]]:
    """group ('<harness>/<split>') -> (counted episodes, passed); infra errors are not counted."""
    out: dict[str, tuple[int, int]] = {}
    for e in eps:
        if e.infra:
            continue
        n, p = out.get(e.group, (0, 0))
        out[e.group] = (n + 1, p + e.passed)
    return out


@lru_cache(maxsize=16)
def _split_sizes(suite: str, limit: int | None) -> dict[str, int]:
    from cluster.config import resolve_suite
    from harnesses.tasks import load_suite

    s = load_suite(resolve_suite(suite))
    return {name: len(s.split(name)[:limit] if limit else s.split(name)) for name in SPLITS}


def planned(run: Run) -> dict[str, int]:
    """Episodes per split one harness runs: tasks x attempts ({} when the suite cannot be read)."""
    cfg = run.config or RunConfig()
    try:
        kept = RunStore(run.root, create=False).read(SUITE_SPLITS)  # a suite whose splits the run derived
        sizes = ({s: len(kept.splits.get(s, [])[:cfg.limit] if cfg.limit else kept.splits.get(s, [])) for s in SPLITS}
                 if kept is not None else _split_sizes(cfg.suite, cfg.limit))
    except Exception:  # a suite that moved: progress shows counts without totals
        return {}
    return {k: v * cfg.attempts for k, v in sizes.items()}
