"""Ids from the outside world -> paths inside a runs root, or a refusal.

The review app and the CLI take run, proposal and episode ids from URLs and arguments.
Each id must match a strict pattern before it comes near the filesystem, and the path it
names must resolve (symlinks followed) to a direct child of the root, so no id can reach
a file outside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from actors.approvals import PROPOSAL_ID
from actors.run_dir import RunStore
from harnesses.vocabulary import ACCEPTANCE_SPLITS, SPLITS, EpisodeKey, noise_split, parse_episode_id
from harnesses.vocabulary import episode_id as episode_id_of

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
HARNESS_ID = re.compile(r"^[0-9a-f]{12}$")


class BadId(ValueError):
    """An id that does not match its pattern: refused before any file is touched (HTTP 400)."""


class NotFound(LookupError):
    """A well-formed id that names nothing in the root (HTTP 404)."""


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id or ""):
        raise BadId(f"run id {run_id[:80]!r}: expected letters, digits, '.', '_' or '-' (not starting with '.')")
    return run_id


def check_proposal_id(proposal_id: str) -> tuple[int, str]:
    """'r3p2' -> (3, 'r3p2'); 'r3merge' -> (3, 'merge'): the round and the id the round's files use."""
    if not PROPOSAL_ID.match(proposal_id or ""):
        raise BadId(f"proposal id {proposal_id[:80]!r}: expected r<round>p<n> or r<round>merge")
    rnd = int(re.match(r"^r(\d+)", proposal_id).group(1))
    return rnd, "merge" if proposal_id.endswith("merge") else proposal_id


def check_episode_id(episode_id: str) -> EpisodeKey:
    """An episode id from a request, refused unless it is one the run could have written: a plain task
    name, a harness id, and the canonical attempt and seed (nothing that could walk the file system)."""
    try:
        key = parse_episode_id(episode_id or "")
        ok = TASK_NAME.match(key.task) and HARNESS_ID.match(key.harness_id) and 0 <= key.attempt < 10_000 \
            and 0 <= key.seed < 10 ** 12 and episode_id_of(*key) == episode_id
    except ValueError:
        ok = False
    if not ok:
        raise BadId(f"trace id {episode_id[:80]!r}: expected <task>__<harness id>__a<attempt>__s<seed>")
    return key


def inside(root: Path, path: Path) -> Path:
    """`path` resolved, if it stays under `root` (resolved); NotFound otherwise."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise NotFound(f"{path.name}: not in the runs root")
    return real


class RunsRoot:
    """The directory the review app serves: its run directories, or only one of them."""

    def __init__(self, root: Path | str, only: str | None = None):
        self.root = Path(root).resolve()
        self.only = check_run_id(only) if only else None
        if not self.root.is_dir():
            raise NotFound(f"{root}: no such directory")

    @classmethod
    def for_path(cls, path: Path | str) -> "RunsRoot":
        """A run directory (serve just it) or a directory of runs (serve them all)."""
        path = Path(path).resolve()
        if is_run(path):
            return cls(path.parent, only=path.name)
        return cls(path)

    def run_ids(self) -> list[str]:
        names = [self.only] if self.only else sorted(p.name for p in self.root.iterdir() if RUN_ID.match(p.name))
        return [n for n in names if is_run(self.root / n) and (self.root / n).resolve().parent == self.root]

    def run_dir(self, run_id: str) -> Path:
        check_run_id(run_id)
        if self.only and run_id != self.only:
            raise NotFound(f"run {run_id!r}: not served here")
        path = inside(self.root, self.root / run_id)
        if path.parent != self.root or not is_run(path):
            raise NotFound(f"run {run_id!r}: no such run")
        return path


def is_run(path: Path) -> bool:
    return RunStore.is_run(path)


def trace_path(run_dir: Path, episode_id: str) -> tuple[Path, str]:
    """The trace file of an episode and its split: traces/<harness>/<split>/<episode>.json (a round's A/A
    reruns under <split>.aa)."""
    harness = check_episode_id(episode_id).harness_id
    store = RunStore(run_dir, create=False)
    for split in SPLITS + tuple(noise_split(s) for s in ACCEPTANCE_SPLITS):
        path = store.trace_path(harness, split, episode_id)
        if path.is_file():
            return inside(run_dir, path), split
    raise NotFound(f"trace {episode_id!r}: no such episode in this run")
