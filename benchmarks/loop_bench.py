"""The demo loop, measured: wall time, episodes, peak memory, and what racing saves.

Runs the demo config (configs/demo.yaml) on Ray with racing on, sampling the resident
memory of the whole process tree (driver, Ray, workers, sandboxes); then runs the same
config with racing off (in one process: only its episodes and decisions are compared)
and prints the validation episodes racing saved and the share of accept/reject
decisions it left unchanged.

    .venv/bin/python benchmarks/loop_bench.py [--config configs/demo.yaml] [--profile P]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
import psutil  # noqa: E402

from actors.model.config import SimModelConfig  # noqa: E402
from actors.run_dir import AB, EPISODES, RunStore  # noqa: E402
from cluster.config import RunConfig, load_config  # noqa: E402
from cluster.controller import run_loop  # noqa: E402
from cluster.loop import open_run, run_loop_bare  # noqa: E402


class PeakMemory:
    """Samples the summed RSS of this process and all its descendants."""

    def __init__(self, every: float = 0.5):
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def validation(root: Path) -> tuple[int, int, dict[tuple[int, str, str], bool]]:
    """Validation episodes used, episodes a full evaluation needs, and each decision keyed by its parent."""
    store = RunStore(root, create=False)
    used = full = 0
    decisions = {}
    for n in store.rounds():
        for pid in store.proposal_ids(n):
            ab = store.read(AB, round=n, proposal=pid)
            used += ab.episodes
            full += sum(s.pairs for s in ab.splits.values())
            decisions[(n, ab.parent_id, ab.candidate_id)] = ab.accepted
    return used, full, decisions


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"))
    p.add_argument("--profile")
    args = p.parse_args()
    config = load_config(args.config, RunConfig)
    if args.profile:
        config = msgspec.structs.replace(config, model=SimModelConfig(profile=args.profile))
    config = msgspec.structs.replace(config, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        raced, plain = Path(tmp) / "racing", Path(tmp) / "no-racing"
        start = time.monotonic()
        with PeakMemory() as mem:
            report = run_loop(config, open_run(config, str(raced)), log=lambda *_: None)
        wall = time.monotonic() - start
        episodes = RunStore(raced, create=False).count_lines(EPISODES)
        off = msgspec.structs.replace(config, acceptance=msgspec.structs.replace(config.acceptance, racing=False))
        run_loop_bare(off, open_run(off, str(plain)))
        used, full, with_racing = validation(raced)
        used_off, _, without = validation(plain)
        common = [k for k in with_racing if k in without]
        same = sum(with_racing[k] == without[k] for k in common)
    print(f"config           {args.config} (profile {config.model.profile}, {config.rounds} rounds, K={config.k})")
    print(f"wall time        {wall:.0f} s on Ray, racing on")
    print(f"episodes run     {episodes} (all stages, the sealed test included)")
    print(f"peak memory      {mem.peak / 2**30:.2f} GiB (RSS of the driver, Ray and every sandbox)")
    print(f"sealed test      {report.initial.pass_rate:.1%} -> {report.final.pass_rate:.1%}")
    print(f"validation       {used} episodes with racing, {used_off} without: racing saved "
          f"{1 - used / used_off:.0%}")
    print(f"decisions        {same} of {len(common)} unchanged by racing ({same / max(1, len(common)):.0%})")


if __name__ == "__main__":
    main()
