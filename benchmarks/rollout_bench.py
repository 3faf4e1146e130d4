"""The same episodes through the full Ray pipeline and as a bare loop, side by side.

Both run the same harness, sim profile, tasks, seeds and sandboxes at the same
concurrency; the bare loop is a thread pool in one process with the model in-process.
Prints episodes/s of each and their ratio (target: the pipeline reaches >= 0.8 of the
bare loop). Ray's start-up is paid once before timing; actor creation is timed.

    .venv/bin/python benchmarks/rollout_bench.py [--split train] [--attempts 1] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.model.config import SimModelConfig
from actors.rollout import plan_episodes  # noqa: E402
from actors.run_dir import RunStore  # noqa: E402
from cluster.compose import RolloutPipeline, prepare, run_rollout_bare  # noqa: E402
from cluster.config import RolloutConfig  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="train")
    p.add_argument("--attempts", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--profile", default="minimax")
    p.add_argument("--rounds", type=int, default=2, help="alternate bare/pipeline this many times")
    args = p.parse_args()
    config = RolloutConfig(split=args.split, attempts=args.attempts, concurrency=args.concurrency,
                           workers=args.workers, model=SimModelConfig(profile=args.profile))
    _, tasks, harness = prepare(config)
    pipeline = RolloutPipeline.for_rollout(config, tasks, harness)
    specs = plan_episodes(tasks, config.attempts, config.seed, config.split)
    bare_eps, ray_eps = [], []
    for r in range(args.rounds):
        traces, secs = run_rollout_bare(config, tasks, harness)
        bare_eps.append(len(traces) / secs)
        with tempfile.TemporaryDirectory() as d:
            rtraces, summary = pipeline.run(specs, RunStore(d), progress=False)
        ray_eps.append(summary.episodes_per_s)
        same = sorted((t.episode_id, t.passed) for t in traces) == sorted((t.episode_id, t.passed) for t in rtraces)
        print(f"round {r + 1}: bare {bare_eps[-1]:.2f} ep/s, pipeline {ray_eps[-1]:.2f} ep/s, "
              f"{len(traces)} episodes, same outcomes: {same}")
    pipeline.close()
    bare, pipe = sum(bare_eps) / len(bare_eps), sum(ray_eps) / len(ray_eps)
    print(f"\nepisodes: {len(traces)} per run ({len(tasks)} tasks x {args.attempts} attempt(s)), "
          f"concurrency {args.concurrency}")
    print(f"bare loop      {bare:.2f} episodes/s")
    print(f"Ray pipeline   {pipe:.2f} episodes/s")
    print(f"ratio          {pipe / bare:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
