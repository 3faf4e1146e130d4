"""How busy the pipeline keeps a CPU model: real rollouts (sandboxes, the agent loop, the verifier) against one
llama.cpp replica, with 1, 2 and 3 episodes in flight per replica, side by side in one run.

While an episode's commands run in its sandbox, its replica has nothing to do unless another episode is in
flight; with two, the replica switches conversations, and a conversation set aside is restored from its saved
KV state (`prefix_cache_mb`), not read again. Per setting: episodes/s, the replica's busy fraction (time
generating over wall time), prompt tokens evaluated per episode and the restores. Goal: busy >= 0.9.

    .venv/bin/python benchmarks/busy_bench.py [--gguf smollm2-135m] [--tasks 4] [--turns 6] [--per-replica 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.model.config import LlamaCppModelConfig  # noqa: E402
from actors.rollout import plan_episodes  # noqa: E402
from actors.sandbox.config import LocalSandboxConfig  # noqa: E402
from harnesses.spec import load_harness  # noqa: E402
from harnesses.tasks import load_suite  # noqa: E402


def replica_stats(router) -> list[dict]:
    import ray

    return [r["engine"] for r in ray.get(router.stats.remote())["replicas"]]


def measure(per_replica: int, args, tasks, harness) -> dict:
    import ray

    from cluster.compose import RolloutPipeline

    config = LlamaCppModelConfig(gguf=args.gguf, replicas=1, n_threads=1, cpus=1, n_ctx=8192,
                                 max_tokens=args.max_tokens)
    pipeline = RolloutPipeline(tasks, model=config, sandbox=LocalSandboxConfig(), concurrency=per_replica,
                               workers=1, harness=harness)
    try:
        ray.get(pipeline.server.stats.remote())
        before = replica_stats(pipeline.server)
        start = time.monotonic()
        traces = pipeline.run_jobs([(s, None) for s in plan_episodes(tasks, 1, 0, "train")], progress=False)
        wall = time.monotonic() - start
        after = replica_stats(pipeline.server)
    finally:
        pipeline.close()
    busy = sum(a.get("latency_s", 0.0) - b.get("latency_s", 0.0) for a, b in zip(after, before)) / wall
    sent = sum(x.prompt_tokens for t in traces for x in t.turns)
    cached = sum(x.cached_tokens for t in traces for x in t.turns)
    return dict(per_replica=per_replica, wall_s=wall, per_s=len(traces) / wall, busy=busy,
                evaluated=(sent - cached) / len(traces), restored=sum(a.get("restored", 0) for a in after),
                passed=sum(t.passed for t in traces), infra=sum(t.infra_error is not None for t in traces))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", default="smollm2-135m")
    p.add_argument("--tasks", type=int, default=4, help="train tasks of core, one episode each")
    p.add_argument("--turns", type=int, default=6, help="the harness's max_turns")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--per-replica", default="1,2,3", help="episodes in flight per replica, comma-separated")
    args = p.parse_args()
    import ray

    ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    harness = load_harness(ROOT / "harnesses" / "minimal.yaml")
    harness = msgspec.structs.replace(harness, runtime=msgspec.structs.replace(harness.runtime, max_turns=args.turns))
    tasks = load_suite(ROOT / "benchmarks" / "suites" / "core").split("train")[: args.tasks]
    rows = [measure(int(n), args, tasks, harness) for n in args.per_replica.split(",")]
    print(f"{len(tasks)} episodes of core/train (minimal harness, {args.turns} turns), 1 replica of {args.gguf} "
          "(1 thread)")
    print(f"{'in flight':<11}{'wall s':>8}{'ep/s':>8}{'busy':>7}{'evaluated/ep':>14}{'restored':>10}{'passed':>8}"
          f"{'infra':>7}")
    for r in rows:
        print(f"{r['per_replica']:<11}{r['wall_s']:>8.1f}{r['per_s']:>8.3f}{r['busy']:>7.2f}{r['evaluated']:>14.0f}"
              f"{r['restored']:>10}{r['passed']:>8}{r['infra']:>7}")
    base = rows[0]
    for r in rows[1:]:
        print(f"{r['per_replica']} vs 1 in flight: {r['per_s'] / base['per_s']:.2f}x episodes/s, busy "
              f"{r['busy']:.2f} vs {base['busy']:.2f}")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
