"""The same episodes with the sim in-process and through HTTP (our Serve endpoint, `model.kind: openai`).

Both go through the Ray pipeline with the same harness, profile, tasks, seeds and
concurrency; the second adds the OpenAI wire format, the SDK, the Serve proxy and ingress.
Prints episodes/s of each, their ratio, the model requests made, and whether every
episode's outcome and transcript are the same.

    .venv/bin/python benchmarks/endpoint_bench.py [--split train] [--attempts 1] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.model.config import OpenAIModelConfig, SimModelConfig
from actors.rollout import plan_episodes  # noqa: E402
from actors.run_dir import RunStore  # noqa: E402
from cluster.compose import RolloutPipeline, prepare  # noqa: E402
from cluster.config import RolloutConfig  # noqa: E402
from cluster.ray_init import init_ray  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="train")
    p.add_argument("--attempts", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--profile", default="minimax")
    p.add_argument("--rounds", type=int, default=2, help="alternate in-process/HTTP this many times")
    args = p.parse_args()

    from ray import serve

    from serve.openai import build_app

    init_ray()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"model": {"kind": "sim", "profile": args.profile}}), name="openai", route_prefix="/")
    http_model = OpenAIModelConfig(base_url=f"http://127.0.0.1:{port}/v1", model=f"sim/{args.profile}",
                                   api_key_env=None)
    base = dict(split=args.split, attempts=args.attempts, concurrency=args.concurrency, workers=args.workers)
    local_cfg = RolloutConfig(**base, model=SimModelConfig(profile=args.profile))
    _, tasks, harness = prepare(local_cfg)
    specs = plan_episodes(tasks, args.attempts, 0, args.split)
    pipes = {"in-process": RolloutPipeline.for_rollout(local_cfg, tasks, harness),
             "HTTP": RolloutPipeline.for_rollout(RolloutConfig(**base, model=http_model), tasks, harness)}
    eps: dict[str, list[float]] = {k: [] for k in pipes}
    for r in range(args.rounds):
        seen = {}
        for name, pipe in pipes.items():
            with tempfile.TemporaryDirectory() as d:
                traces, summary = pipe.run(specs, RunStore(d), progress=False)
            eps[name].append(summary.episodes_per_s)
            seen[name] = sorted((t.episode_id, t.passed, tuple(u.raw for u in t.turns)) for t in traces)
            requests = sum(len(t.turns) for t in traces)
        same = seen["in-process"] == seen["HTTP"]
        print(f"round {r + 1}: in-process {eps['in-process'][-1]:.2f} ep/s, HTTP {eps['HTTP'][-1]:.2f} ep/s, "
              f"{len(traces)} episodes, {requests} model requests, same transcripts: {same}")
    for pipe in pipes.values():
        pipe.close()
    serve.shutdown()
    local, http = (sum(v) / len(v) for v in eps.values())
    print(f"\nin-process sim      {local:.2f} episodes/s")
    print(f"sim through HTTP    {http:.2f} episodes/s")
    print(f"ratio               {http / local:.2f}")


if __name__ == "__main__":
    main()
