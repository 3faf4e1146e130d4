"""A whole rollout through the kubernetes sandbox backend against the API server double
(benchmarks/doubles/kube_apiserver.py), side by side with the local backend, then again with
injected faults. The same harness, sim profile, tasks and seeds everywhere.

Prints, per run: episodes, passed, pass rate, infra errors, pods left; then the episodes whose
outcome differs from the local backend's, the faults injected and the backend's retry counters.
tests/actors/test_sandbox_kubernetes_rollout.py asserts the same things on the full core suite.

    .venv/bin/python benchmarks/k8s_rollout.py [--split all] [--concurrency 4] [--profile minimax]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.model.config import SimModelConfig
from actors.model.server import build_model  # noqa: E402
from actors.rollout import RolloutWorker, plan_episodes, summarize  # noqa: E402
from actors.sandbox.config import KubernetesSandboxConfig
from actors.sandbox.kubernetes.pod import SANDBOX_SELECTOR, TASK_LABEL, label_value  # noqa: E402
from actors.sandbox.local import LocalSandboxBackend  # noqa: E402
from cluster.compose import prepare  # noqa: E402
from cluster.config import RolloutConfig  # noqa: E402

FAST = dict(poll_interval_s=0.05, ready_timeout_s=4.0, start_retries=2, backoff_s=0.05, backoff_max_s=0.2,
            api_retries=4, exec_retries=2, exec_connect_timeout_s=5.0, exec_grace_s=2.0, file_timeout_s=5.0,
            api_timeout_s=10.0, sweep_interval_s=None, run_label="k8s-rollout")
"""Backend timings for a double on this machine (a real cluster keeps the defaults)."""


def rollout_config(split: str = "all", profile: str = "minimax", concurrency: int = 4) -> RolloutConfig:
    return RolloutConfig(suite="core", split=split, attempts=1, concurrency=concurrency,
                         model=SimModelConfig(profile=profile))


def run_episodes(config: RolloutConfig, backend: Any) -> tuple[list, float]:
    """The rollout's episodes on `backend`, `config.concurrency` at a time (run_rollout_bare's loop)."""
    _, tasks, harness = prepare(config)
    worker = RolloutWorker(tasks, backend, build_model(config.model, tasks), harness)
    specs = plan_episodes(tasks, config.attempts, config.seed, config.split)
    start = time.monotonic()
    with ThreadPoolExecutor(config.concurrency) as pool:
        traces = list(pool.map(worker.run, specs))
    return traces, time.monotonic() - start


def outcomes(traces: list) -> dict[tuple[str, int], tuple[bool, int, tuple]]:
    """(task, seed) -> (passed, commands, exit codes): what must not depend on the backend."""
    return {(t.task, t.seed): (t.passed, len(t.commands), tuple(c.exit_code for c in t.commands)) for t in traces}


def _is_command(labels: dict, argv: list[str], index: int) -> bool:
    """An agent command (the bootstrap of kubernetes/stream.py), not one of the backend's own scripts."""
    return argv[:2] == ["bash", "-c"] and "__selfharness" in argv[2]


def _is_copy_in(labels: dict, argv: list[str], index: int) -> bool:
    return argv[0] == "sh" and "tar -xof" in argv[2]


def _is_copy_out(labels: dict, argv: list[str], index: int) -> bool:
    return argv[0] == "sh" and "tar -chf" in argv[2]


def inject_faults(double: Any, task_names: list[str]) -> dict[str, str]:
    """Faults on cue. Returns {task: fault} for the tasks whose episodes must end as infra
    errors (the faults that outlast every retry); every other fault must be invisible."""
    names = sorted(task_names)
    lasting = {names[3]: "image_pull", names[11]: "unschedulable", names[19]: "crash", names[27]: "slow",
               names[35]: "dropped stream"}
    for task, kind in lasting.items():
        if kind == "dropped stream":
            double.fail_exec("drop", when=lambda lb, argv, i, t=task: lb.get(TASK_LABEL) == label_value(t)
                             and _is_command(lb, argv, i), times=1)
        elif kind == "slow":
            double.fail_pods("slow", task=label_value(task), seconds=120, times=None)
        else:
            double.fail_pods(kind, task=label_value(task), times=None)
    # retried until they pass: one bad pull, one slow start within the deadline, each on two tasks
    for task in (names[5], names[13]):
        double.fail_pods("image_pull", task=label_value(task), times=1)
    for task in (names[21], names[29]):
        double.fail_pods("slow", task=label_value(task), seconds=1.0, times=1)
    # API errors: lost creates (adopted on the 409), names taken, 5xx and 429 on every kind of call
    double.fail_http("POST", r"/pods$", 500, skip=5, times=2)
    double.fail_http("POST", r"/pods$", 500, commit=True, skip=12, times=2)
    double.fail_http("POST", r"/pods$", 409, skip=20, times=1)
    double.fail_http("GET", r"/pods/[^/]+$", 500, skip=30, times=3)
    double.fail_http("GET", r"/pods/[^/]+$", 429, retry_after=0.1, skip=60, times=1)
    double.fail_http("DELETE", r"/pods/[^/]+$", 503, skip=10, times=2)
    # exec: refused handshakes (never started: retried even for commands); copies whose
    # stream drops, breaks at once or hangs (idempotent: retried)
    double.fail_http("GET", r"/exec$", 500, skip=50, times=3)
    double.fail_exec("drop", when=_is_copy_in, skip=10, times=1)
    double.fail_exec("drop_before", when=_is_copy_out, skip=20, times=1)
    double.fail_exec("hang", when=_is_copy_out, skip=40, times=1)
    return lasting


def main() -> None:
    from actors.sandbox.kubernetes import KubernetesSandboxBackend
    from benchmarks.doubles.kube_apiserver import ImageRegistry, KubeAPIServerDouble
    from cluster.config import SUITES_DIR
    from harnesses.tasks import load_suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="all")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--profile", default="minimax")
    args = p.parse_args()
    config = rollout_config(args.split, args.profile, args.concurrency)
    local, local_s = run_episodes(config, LocalSandboxBackend())
    rows = [("local", local, local_s, 0)]
    suite = load_suite(SUITES_DIR / "core")
    details = []
    for faults in (False, True):
        with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as double:
            backend = KubernetesSandboxBackend(KubernetesSandboxConfig(host=double.url, **FAST))
            lasting = inject_faults(double, [t.name for t in prepare(config)[1]]) if faults else {}
            traces, secs = run_episodes(config, backend)
            left = len(backend.api.list_pods(SANDBOX_SELECTOR))
            stats = backend.stats()
            backend.close()
            rows.append(("kubernetes + faults" if faults else "kubernetes (double)", traces, secs, left))
            details.append((faults, traces, lasting, dict(double.injected), stats))
    print(f"{'backend':<22}{'episodes':>9}{'passed':>8}{'pass rate':>11}{'infra':>7}{'pods left':>11}{'time':>8}")
    for name, traces, secs, left in rows:
        s = summarize(traces)
        print(f"{name:<22}{s.episodes:>9}{s.passed:>8}{s.pass_rate:>11.1%}{s.infra_errors:>7}{left:>11}{secs:>7.1f}s")
    base = outcomes(local)
    for faults, traces, lasting, injected, stats in details:
        mine = outcomes(traces)
        infra = {t.task for t in traces if t.infra_error}
        differ = [k for k in base if k[0] not in infra and base[k] != mine.get(k)]
        print(f"\n{'with faults' if faults else 'clean'}: {len(differ)} episode(s) differ from local {differ or ''}")
        if faults:
            print(f"  infra errors on {sorted(infra)} (expected {sorted(lasting)})")
            print(f"  injected: {injected}")
        print(f"  backend: {stats}")


if __name__ == "__main__":
    main()
