"""Does the Ray pipeline keep `concurrency` episodes in flight, and does it spread workers over nodes?

Part A (throughput): the same episodes of the `core` suite through the Ray pipeline and through
the bare thread pool (`run_rollout_bare`), at each concurrency, against a real OpenAI-compatible
HTTP endpoint that answers every request after a fixed delay (benchmarks/doubles/delayed_endpoint.py,
run in its own process so its work is on neither side's GIL). With a latency-bound model an
episode's time is mostly waiting, so episodes/s measures how many episodes each side really
keeps running at once. Goal: pipeline / bare >= 0.9 at every concurrency. Actor start-up is
not timed; the two sides alternate.

Part B (spread): a 3-node local Ray cluster (ray.cluster_utils), a pipeline of concurrency 6
and 6 workers, one small rollout; prints the workers and sandbox slots on each node.

    .venv/bin/python benchmarks/scheduling_bench.py [--concurrency 16,64,256] [--attempts N]
        [--delay 0.5] [--workers 2] [--rounds 1] [--node-cpus 2] [--skip-throughput] [--skip-spread]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.model.config import OpenAIModelConfig, SimModelConfig
from actors.rollout import plan_episodes
from actors.run_dir import RunStore
from actors.sandbox.config import LocalSandboxConfig
from cluster.compose import RolloutPipeline, prepare, run_rollout_bare
from cluster.config import RolloutConfig
from cluster.ray_init import init_ray
from harnesses.trace import Trace

GOAL = 0.9


def start_endpoint(profile: str, delay: float) -> tuple[subprocess.Popen, str, str]:
    """The delayed endpoint in a child process: (process, base_url, served model name)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/doubles/delayed_endpoint.py"),
                             "--profile", profile, "--delay", str(delay)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split() if proc.stdout else []
    if len(line) != 2:
        proc.kill()
        raise SystemExit("the delayed endpoint did not start")
    return proc, line[0], line[1]


def outcomes(traces: list[Trace]) -> list[tuple[str, bool]]:
    return sorted((t.episode_id, t.passed) for t in traces)


def throughput(args: argparse.Namespace) -> None:
    """Part A: pipeline and bare episodes/s per concurrency, and their ratio."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    init_ray("local")  # a single node of our own: never join a cluster another process left running
    node_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    proc, base_url, served = start_endpoint(args.profile, args.delay)
    print(f"endpoint {base_url} serving {served}, {args.delay:g}s per request; Ray CPUs {node_cpus:g}; "
          f"{args.workers} workers", flush=True)
    rows: list[tuple[int, int, float, float, float]] = []
    try:
        for k, c in enumerate(args.concurrency):
            # half the node's CPU for the slots, so the other actors still fit beside them
            sandbox = LocalSandboxConfig(cpus=min(0.25, node_cpus / (2 * c)))
            used = f"LocalSandboxConfig(cpus={sandbox.cpus:.4g})"
            model = OpenAIModelConfig(base_url=base_url, model=served, api_key_env=None, concurrency=c)
            probe = RolloutConfig(split=args.split, model=model)
            _, tasks, harness = prepare(probe)
            attempts = args.attempts or math.ceil(3 * c / len(tasks))
            config = RolloutConfig(split=args.split, attempts=attempts, concurrency=c, workers=args.workers,
                                   model=model, sandbox=sandbox)
            specs = plan_episodes(tasks, attempts, config.seed, config.split)
            print(f"\nconcurrency {c}: {len(specs)} episodes ({len(tasks)} tasks x {attempts}), sandbox {used}",
                  flush=True)
            pipe = RolloutPipeline.for_rollout(config, tasks, harness)
            eps: dict[str, list[float]] = {"pipeline": [], "bare": []}
            requests = 0
            try:
                for r in range(args.rounds):
                    seen: dict[str, list[tuple[str, bool]]] = {}
                    for side in (("bare", "pipeline") if (k + r) % 2 == 0 else ("pipeline", "bare")):
                        if side == "bare":
                            traces, secs = run_rollout_bare(config, tasks, harness)
                            eps[side].append(len(traces) / secs)
                        else:
                            with tempfile.TemporaryDirectory() as d:
                                traces, summary = pipe.run(specs, RunStore(d), progress=False)
                            eps[side].append(summary.episodes_per_s)
                            secs = summary.duration_s
                        seen[side] = outcomes(traces)
                        infra = sum(1 for t in traces if t.infra_error)
                        requests = sum(len(t.turns) for t in traces)
                        print(f"  round {r + 1} {side:8s} {eps[side][-1]:7.2f} ep/s  {secs:6.1f}s  "
                              f"{requests} model requests  {infra} infra errors",
                              flush=True)
                    print(f"  round {r + 1} same outcomes: {seen['bare'] == seen['pipeline']}", flush=True)
            finally:
                pipe.close()
            pipe_eps, bare_eps = (sum(v) / len(v) for v in (eps["pipeline"], eps["bare"]))
            # every slot always waiting on the model: what a latency-bound run could reach
            bound = c * len(specs) / (requests * args.delay) if requests else float("inf")
            rows.append((c, len(specs), pipe_eps, bare_eps, bound))
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
        ray.shutdown()
    print(f"\n{'concurrency':>11} {'episodes':>8} {'pipeline ep/s':>13} {'bare ep/s':>9} {'ratio':>6} "
          f"{'latency bound ep/s':>18}")
    for c, n, pe, be, bound in rows:
        print(f"{c:>11} {n:>8} {pe:>13.2f} {be:>9.2f} {pe / be:>6.2f} {bound:>18.2f}")
    print("(latency bound: concurrency / (requests per episode x delay); far above both sides means the "
          "machine's CPU, not scheduling, set the pace)")
    worst = min(pe / be for _, _, pe, be, _ in rows)
    print(f"minimum ratio {worst:.2f}: {'meets' if worst >= GOAL else 'misses'} the goal >= {GOAL}")


def spread(args: argparse.Namespace) -> None:
    """Part B: 6 workers of one slot each on three nodes; how many land on each."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.node_cpus, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=args.node_cpus)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        config = RolloutConfig(split=args.split, attempts=1, concurrency=6, workers=6,
                               model=SimModelConfig(profile=args.profile))
        _, tasks, harness = prepare(config)
        pipe = RolloutPipeline.for_rollout(config, tasks, harness)
        try:
            with tempfile.TemporaryDirectory() as d:
                traces, summary = pipe.run(plan_episodes(tasks[:6], 1, 0, args.split), RunStore(d), progress=False)
            print(f"\nspread: {len(traces)} episodes, {summary.passed} passed, {summary.infra_errors} infra errors, "
                  f"{summary.episodes_per_s:.2f} ep/s", flush=True)
            where = pipe.placement()
        finally:
            pipe.close()
        order = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        print("placement:")
        for i, node in enumerate(order + [n for n in where if n not in order]):
            cell = where.get(node, {"workers": 0, "slots": 0})
            print(f"  node {i} {node[:12]}{' (head)' if i == 0 else ''}: {cell['workers']} workers, "
                  f"{cell['slots']} slots")
        print("workers per node: " + "/".join(str(where.get(n, {}).get("workers", 0)) for n in order))
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[16, 64, 256])
    p.add_argument("--split", default="train")
    p.add_argument("--attempts", type=int, default=None,
                   help="attempts per task (default: enough for >= 3x concurrency episodes)")
    p.add_argument("--delay", type=float, default=0.5, help="seconds per model request")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--profile", default="minimax")
    p.add_argument("--rounds", type=int, default=1, help="alternate bare/pipeline this many times")
    p.add_argument("--node-cpus", type=int, default=2, help="CPUs of each node of the spread cluster")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-spread", action="store_true")
    args = p.parse_args()
    if not args.skip_throughput:
        throughput(args)
    if not args.skip_spread:
        spread(args)


if __name__ == "__main__":
    main()
