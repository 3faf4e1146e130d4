"""Check the vLLM path end to end on a machine with GPUs, before a real run.

    .venv/bin/python benchmarks/gpu_smoke.py [--model Qwen/Qwen2.5-0.5B-Instruct] [--tp 1] [--replicas 1] [--tasks 4]

1. Checks what the path needs: vllm importable, CUDA GPUs, enough GPUs in the Ray cluster
   (RAY_ADDRESS, or a local one) for --tp x --replicas, bubblewrap for the sandboxes.
2. Starts the rollout pipeline exactly as a run does (compose's model server: `start_vllm`,
   GPUs pinned per replica by placement groups, the router in front).
3. Sends two chat turns of one conversation straight to the router: prints the replies, their
   token counts and seconds, and the replica that answered both.
4. Runs a short rollout, --tasks tasks of the core suite's train split with the minimal
   harness, and prints the pass rate, tokens/s and the router's stats.

Exits 2 with a message saying what is missing when there is no GPU, no vllm or no
bubblewrap; 1 when the path itself fails. `--double` runs the same steps on fake GPUs with
the engine double of the tests, to check this script on a machine without GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.model.config import VLLMModelConfig
from actors.sandbox.config import LocalSandboxConfig
from cluster.config import RolloutConfig  # noqa: E402
from harnesses.model import Message, ModelRequest  # noqa: E402


class Missing(Exception):
    """Something the path needs is not on this machine (exit 2)."""


def check_machine(args) -> None:
    if shutil.which("bwrap") is None and not args.no_rollout:
        raise Missing("the rollout runs commands in bubblewrap sandboxes: sudo apt-get install -y bubblewrap "
                      "(or pass --no-rollout to check the model path alone)")
    if args.double:
        return
    from actors.model.vllm import require_vllm

    try:
        require_vllm()
    except ImportError as e:
        raise Missing(str(e)) from None
    if not os.environ.get("RAY_ADDRESS"):  # on a cluster the GPUs are on other nodes: Ray's count below
        import torch

        if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
            raise Missing("no CUDA GPU is visible here (torch.cuda.device_count() == 0): model.kind vllm needs one; "
                          "on a CPU machine use model.kind sim, or openai with a remote endpoint")


def start_ray(args, need: int) -> None:
    import ray

    from cluster.ray_init import init_ray

    if args.double:  # fake GPUs: Ray takes num_gpus as a logical resource
        root = str(Path(__file__).resolve().parent.parent)
        ray.init(address="local", num_gpus=need, num_cpus=max(os.cpu_count() or 1, need + 2),
                 runtime_env={"env_vars": {"PYTHONPATH": root}}, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        init_ray()
    have = ray.cluster_resources().get("GPU", 0)
    if have < need:
        raise Missing(f"the Ray cluster has {have:g} GPUs; --tp {args.tp} x --replicas {args.replicas} needs {need}")


def chat(model, router) -> None:
    import ray

    messages = [Message("system", "You are a terse assistant."),
                Message("user", "In one sentence: what does `ls -la /app` print?")]
    for turn in (1, 2):
        start = time.monotonic()
        reply = model.complete(ModelRequest(messages=tuple(messages), temperature=0.0, seed=0, max_tokens=128,
                                            conversation_id="smoke-chat"))
        took = time.monotonic() - start
        print(f"chat turn {turn}: {reply.prompt_tokens} prompt + {reply.completion_tokens} completion tokens, "
              f"{took:.2f}s, reasoning {reply.reasoning_chars} chars")
        print("  " + reply.text.strip().replace("\n", "\n  ")[:600])
        messages += [Message("assistant", reply.text), Message("user", "And in three words?")]
    print(f"both turns on replica {ray.get(router.replica_of.remote('smoke-chat'))}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="a Hugging Face id or a local path")
    p.add_argument("--tp", type=int, default=1, help="tensor_parallel_size: GPUs per replica")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--max-model-len", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    p.add_argument("--tasks", type=int, default=4, help="core-suite train tasks in the rollout")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--no-rollout", action="store_true", help="only start the engines and chat")
    p.add_argument("--double", action="store_true", help="fake GPUs and the engine double (no GPU machine)")
    args = p.parse_args()
    need = args.tp * args.replicas
    model_config = VLLMModelConfig(model=args.model, tensor_parallel_size=args.tp, replicas=args.replicas,
                                   max_model_len=args.max_model_len, max_tokens=args.max_tokens,
                                   gpu_memory_utilization=args.gpu_memory_utilization)
    try:
        check_machine(args)
        start_ray(args, need)
    except Missing as e:
        print(f"gpu_smoke: {e}", file=sys.stderr)
        return 2

    import ray

    from actors.model import vllm as vllm_backend
    from actors.rollout import plan_episodes
    from actors.run_dir import RunStore
    from cluster.compose import RolloutPipeline, prepare

    if args.double:  # what start_vllm builds when no factory is given: the double, in every replica
        from benchmarks.doubles.vllm_engine import EngineDoubleFactory

        vllm_backend.VLLMEngineFactory = EngineDoubleFactory
    rollout = RolloutConfig(suite="core", split="train", model=model_config, sandbox=LocalSandboxConfig(),
                            attempts=1, concurrency=args.concurrency, workers=2)
    _, tasks, harness = prepare(rollout)
    tasks = tasks[:args.tasks]
    print(f"starting {args.replicas} replica(s) of {args.model} on {args.tp} GPU(s) each ...", flush=True)
    start = time.monotonic()
    try:
        pipeline = RolloutPipeline.for_rollout(rollout, tasks, harness)
    except Exception as e:
        print(f"gpu_smoke: the engines did not start: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"engines up in {time.monotonic() - start:.1f}s", flush=True)
    try:
        chat(pipeline.model, pipeline.server)
        if not args.no_rollout:
            store = RunStore.new(Path(__file__).resolve().parent.parent / "runs", "gpu-smoke")
            specs = plan_episodes(tasks, 1, 0, "train")
            traces, summary = pipeline.run(specs, store, desc="gpu smoke")
            tokens_s = summary.completion_tokens / summary.duration_s if summary.duration_s else 0.0
            print(f"rollout: {summary.passed}/{summary.episodes} passed (pass rate {summary.pass_rate:.0%}), "
                  f"{summary.infra_errors} infrastructure failures, {summary.duration_s:.1f}s")
            print(f"tokens: {summary.prompt_tokens} prompt, {summary.completion_tokens} completion, "
                  f"{tokens_s:.1f} completion tokens/s over the rollout; traces in {store.root}")
        stats = ray.get(pipeline.server.stats.remote())
        print("router: " + json.dumps(stats, indent=1))
        engines = [r.get("engine", {}) for r in stats.get("replicas", [])]
        busy = sum(e.get("latency_s", 0.0) for e in engines)
        if busy:
            print(f"per request: {sum(e.get('completion_tokens', 0) for e in engines) / busy:.1f} completion tokens/s; "
                  f"prefix cache: {sum(e.get('cached_prompt_tokens', 0) for e in engines)} of "
                  f"{sum(e.get('prompt_tokens', 0) for e in engines)} prompt tokens")
    except Exception as e:
        print(f"gpu_smoke: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        vllm_backend.stop_vllm(pipeline.server)
        pipeline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
