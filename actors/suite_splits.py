"""A run's splits stay the run's: derived splits are written next to it and read back on every restart.

A suite without suite.yaml splits gets them dealt by harnesses/splits.py from the task folders it has
now; a task folder added later would deal some tasks anew, and a resumed run would then compare
episodes of different splits. So the first start writes them to the run directory (SUITE_SPLITS) and
every later start (resume, a restarted controller, a rerun into the same directory) uses that copy.
"""

from __future__ import annotations

from typing import Callable

import msgspec

from actors.records import SuiteSplits
from actors.run_dir import SUITE_SPLITS, RunStore
from harnesses.splits import RULE
from harnesses.tasks import Suite, TaskError


def _sizes(splits: dict[str, list[str]]) -> str:
    return ", ".join(f"{s} {len(names)}" for s, names in splits.items())


def pin_splits(store: RunStore, suite: Suite, log: Callable[[str], object] = print) -> Suite:
    """The suite with this run's splits: the stored ones if the run has them, else its own (derived ones are
    stored first). Says on `log` that splits were derived and where they are kept."""
    path = store.path(SUITE_SPLITS)
    kept = store.read(SUITE_SPLITS)
    if kept is None:
        if suite.splits_source != "derived":
            return suite
        store.write(SUITE_SPLITS, SuiteSplits(suite=suite.name, root=suite.root, rule=RULE, splits=suite.splits))
        log(f"suite {suite.name}: no splits in a suite.yaml, so they were derived: {_sizes(suite.splits)} ({RULE}); "
            f"written to {path}, which every resume of this run reads")
        return suite
    if kept.suite != suite.name:
        raise TaskError(path, "suite", f"this run directory's splits are of suite {kept.suite!r}, not {suite.name!r}; "
                                       "use a new run directory")
    log(f"suite {suite.name}: the splits this run derived at its start, from {path}: {_sizes(kept.splits)}")
    named = {n for names in kept.splits.values() for n in names}
    added = sorted(set(suite.tasks) - named)
    if added:
        log(f"suite {suite.name}: {len(added)} task(s) added since this run started are in none of its splits: "
            f"{', '.join(added)} (a new run directory deals them)")
    gone = sorted(named - set(suite.tasks))
    if gone:
        log(f"suite {suite.name}: {len(gone)} task(s) of this run's splits no longer load and are left out: "
            f"{', '.join(gone)}")
    return msgspec.structs.replace(suite, splits=kept.splits, splits_source="derived")
