"""What the docker backend costs next to the local one, measured side by side in one run on a private dockerd:

1. the offline base image on a clean machine: debootstrap (bookworm minbase + the core suite's tools) and
   `docker import`, with a fresh cache (`--reuse-base` skips this and uses the cached root filesystem);
2. task images: every core task built from its Dockerfile with nothing cached (the first `RUN apt-get`
   apart: the other tasks with the same line reuse its layer), then the same builds again (the context-hash
   cache);
3. the episode overhead: the oracle and the verifier of `--tasks` core tasks, each backend in turn, repeated
   `--rounds` times interleaved, images already built; the ratio docker / local of the mean episode time, of
   open+close alone, and the time of one command.

    .venv/bin/python benchmarks/docker_bench.py [--tasks 12] [--rounds 3] [--reuse-base] [--out benchmarks/results/docker]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.sandbox.config import DockerSandboxConfig  # noqa: E402
from actors.sandbox.docker import baseimage  # noqa: E402
from actors.sandbox.docker.backend import DockerSandboxBackend  # noqa: E402
from actors.sandbox.docker.dockerd import PrivateDockerd  # noqa: E402
from actors.sandbox.local import LocalSandboxBackend  # noqa: E402
from harnesses.sandbox import Limits  # noqa: E402
from harnesses.tasks import load_suite, run_oracle, run_verifier  # noqa: E402


def episode(backend, task) -> tuple[float, float, bool]:
    """(whole episode s, open+close s, passed) of the oracle and the verifier."""
    t0 = time.monotonic()
    sandbox = backend.open(task, Limits())
    opened = time.monotonic() - t0
    try:
        run_oracle(sandbox, task)
        passed = run_verifier(sandbox, task).passed
    finally:
        t1 = time.monotonic()
        sandbox.close()
        closed = time.monotonic() - t1
    return time.monotonic() - t0, opened + closed, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse-base", action="store_true", help="use the cached root filesystem if there is one")
    parser.add_argument("--out", default=None, help="a folder for results.json")
    args = parser.parse_args()
    import docker

    suite = load_suite(ROOT / "benchmarks" / "suites" / "core")
    tasks = [suite.tasks[n] for n in sorted(suite.tasks)]
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="shd-", dir="/tmp") as root, PrivateDockerd(root) as daemon:
        client = docker.DockerClient(base_url=daemon.host)
        cache = baseimage.CACHE if args.reuse_base else Path(root) / "cache"
        t0 = time.monotonic()
        tar = baseimage.rootfs_tar(cache=cache)
        t1 = time.monotonic()
        baseimage.import_base(client, cache=cache)
        t2 = time.monotonic()
        results["base_image"] = {"debootstrap_s": round(t1 - t0, 1), "import_s": round(t2 - t1, 1),
                                 "rootfs_mib": tar.stat().st_size >> 20, "cached": args.reuse_base}
        print(f"base image: debootstrap {t1 - t0:.1f}s{' (cached)' if args.reuse_base else ''}, "
              f"import {t2 - t1:.1f}s, {tar.stat().st_size >> 20} MiB")

        backend = DockerSandboxBackend(DockerSandboxConfig(host=daemon.host))
        apt = {t.name for t in tasks if "apt-get" in (t.environment_dir / "Dockerfile").read_text()}
        cold: dict[str, float] = {}
        for t in tasks:
            s = time.monotonic()
            backend.images.build(t)
            cold[t.name] = time.monotonic() - s
        warm = []
        for t in tasks:
            s = time.monotonic()
            backend.images.build(t)
            warm.append(time.monotonic() - s)
        plain = [v for k, v in cold.items() if k not in apt]
        with_apt = [v for k, v in cold.items() if k in apt]
        results["task_images"] = {"tasks": len(tasks), "total_s": round(sum(cold.values()), 1),
                                  "median_plain_s": round(statistics.median(plain), 2),
                                  "first_apt_get_s": round(max(with_apt), 1) if with_apt else None,
                                  "apt_get_tasks": len(with_apt), "median_cached_s": round(statistics.median(warm), 3)}
        print(f"task images: {len(tasks)} built in {sum(cold.values()):.1f}s; median {statistics.median(plain):.2f}s "
              f"(COPY only), {max(with_apt):.1f}s for the first with RUN apt-get (the other {len(with_apt) - 1} share its "
              f"layer); "
              f"a cached one {statistics.median(warm) * 1000:.0f} ms")

        local = LocalSandboxBackend()
        chosen = tasks[:: max(1, len(tasks) // args.tasks)][: args.tasks]
        times = {"local": [], "docker": []}
        lifecycle = {"local": [], "docker": []}
        for _ in range(args.rounds):
            for t in chosen:
                for name, b in (("local", local), ("docker", backend)):
                    whole, life, passed = episode(b, t)
                    assert passed, (name, t.name)
                    times[name].append(whole)
                    lifecycle[name].append(life)
        per_exec = {}
        for name, b in (("local", local), ("docker", backend)):
            with b.open(chosen[0], Limits()) as sandbox:
                s = time.monotonic()
                for _ in range(30):
                    sandbox.exec("true", timeout_s=10)
                per_exec[name] = (time.monotonic() - s) / 30
        results["exec_mean_s"] = {k: round(v, 4) for k, v in per_exec.items()}
        print(f"one command (`true`): local {per_exec['local'] * 1000:.0f} ms, docker {per_exec['docker'] * 1000:.0f} ms")
        backend.close()
        mean = {k: statistics.mean(v) for k, v in times.items()}
        life = {k: statistics.mean(v) for k, v in lifecycle.items()}
        results["episodes"] = {"episodes_per_backend": len(times["local"]),
                               "mean_s": {k: round(v, 3) for k, v in mean.items()},
                               "open_close_mean_s": {k: round(v, 3) for k, v in life.items()},
                               "ratio_docker_over_local": round(mean["docker"] / mean["local"], 2),
                               "open_close_ratio": round(life["docker"] / life["local"], 2)}
        print(f"oracle episodes ({len(times['local'])} per backend, interleaved): local {mean['local']:.3f}s, "
              f"docker {mean['docker']:.3f}s: docker/local = {mean['docker'] / mean['local']:.2f}x "
              f"(open+close {life['local']:.3f}s vs {life['docker']:.3f}s)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
