"""What sticky routing buys a CPU model: the same conversations over 2 llama.cpp replicas, routed sticky
(a conversation stays on the replica holding its KV cache) and round-robin (each turn to the next replica),
side by side in one run.

The conversations are agent episodes as the loop writes them: the harness's system prompt and the first
user message of a `core` task (its instruction, the reply format and the worked example), then per turn the
model's real reply and an observation of a few hundred characters, for `--turns` turns. `--concurrency`
conversations are in flight at once. Per routing: conversations/s, prompt tokens sent, prompt tokens the
replicas evaluated (sent minus cached) and the replicas' busy fraction (time generating over wall time).
Goal: sticky evaluates fewer tokens and is faster; busy >= 0.9 while there is work.

    .venv/bin/python benchmarks/routing_bench.py [--gguf smollm2-135m] [--conversations 8] [--turns 6]
        [--concurrency 2] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.model.config import LlamaCppModelConfig  # noqa: E402
from harnesses.agent import first_prompt  # noqa: E402
from harnesses.model import Message, ModelRequest  # noqa: E402
from harnesses.spec import load_harness  # noqa: E402
from harnesses.tasks import load_suite  # noqa: E402

OBSERVATION = ("$ ls -la /app\ntotal 16\ndrwxr-xr-x 2 root root 4096 Dec  1 12:00 .\n-rw-r--r-- 1 root root  212 "
               "Dec  1 12:00 input.txt\n[exit 0]\n$ cat /app/input.txt\nalpha beta gamma\n[exit 0]")


def conversations(n: int) -> list[tuple[str, tuple[Message, ...]]]:
    harness = load_harness(ROOT / "harnesses" / "minimal.yaml")
    tasks = sorted(load_suite(ROOT / "benchmarks" / "suites" / "core").tasks.values(), key=lambda t: t.name)
    system = Message("system", harness.system_prompt())
    return [(f"c{i}-{t.name}", (system, Message("user", first_prompt(t, harness, []))))
            for i, t in enumerate((tasks * (n // len(tasks) + 1))[:n])]


def converse(router, cid: str, messages: tuple[Message, ...], turns: int) -> tuple[int, int]:
    import ray

    sent = cached = 0
    for turn in range(turns):
        reply = ray.get(router.complete.remote(ModelRequest(messages=messages, temperature=0.7, seed=1, turn=turn,
                                                             conversation_id=cid)))
        sent, cached = sent + reply.prompt_tokens, cached + reply.cached_tokens
        messages += (Message("assistant", reply.text), Message("user", f"{OBSERVATION}\n(turn {turn})"))
    return sent, cached


def busy_s(router) -> float:
    import ray

    return sum(r["engine"].get("latency_s", 0.0) for r in ray.get(router.stats.remote())["replicas"])


def measure(routing: str, args, convs) -> dict:
    from cluster.llamacpp import start_llamacpp, stop_llamacpp

    config = LlamaCppModelConfig(gguf=args.gguf, replicas=2, n_threads=1, n_ctx=8192, max_tokens=args.max_tokens,
                                 routing=routing, health_check_s=30)
    router = start_llamacpp(config)
    try:
        before = busy_s(router)
        start = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda c: converse(router, c[0], c[1], args.turns), convs))
        wall = time.monotonic() - start
        busy = (busy_s(router) - before) / (2 * wall)
    finally:
        stop_llamacpp(router)
    sent = sum(s for s, _ in results)
    cached = sum(c for _, c in results)
    return dict(routing=routing, wall_s=wall, per_s=len(convs) / wall, sent=sent, evaluated=sent - cached, busy=busy)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", default="smollm2-135m")
    p.add_argument("--conversations", type=int, default=8)
    p.add_argument("--turns", type=int, default=6)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=48)
    args = p.parse_args()
    import ray

    ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    convs = conversations(args.conversations)
    rows = [measure(r, args, convs) for r in ("round_robin", "sticky")]
    print(f"{args.conversations} conversations x {args.turns} turns, {args.concurrency} at once, 2 replicas of "
          f"{args.gguf} (1 thread each)")
    print(f"{'routing':<12}{'wall s':>9}{'conv/s':>9}{'prompt sent':>13}{'evaluated':>11}{'busy':>7}")
    for r in rows:
        print(f"{r['routing']:<12}{r['wall_s']:>9.1f}{r['per_s']:>9.3f}{r['sent']:>13}{r['evaluated']:>11}"
              f"{r['busy']:>7.2f}")
    rr, st = rows
    print(f"sticky / round_robin: {st['per_s'] / rr['per_s']:.2f}x conversations/s, "
          f"{st['evaluated'] / max(rr['evaluated'], 1):.2f}x prompt tokens evaluated")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
