"""Deleting sandbox pods nobody will use again, by label.

A pod is swept when any of these holds (`sweep` says which, per pod):

- `dead run`: its `selfharness.io/run` label names a run that is over (a finished or crashed
  run: `python -m actors.sandbox.kubernetes.sweeper --run RUN`, or a job's own cleanup);
- `not live`: a list of the runs still going was given, and its run is not in it;
- `orphan`: it belongs to the sweeping backend instance, which no longer tracks it (a delete
  that failed after its retries);
- `finished`: phase Succeeded or Failed (e.g. its activeDeadlineSeconds ran out because the
  process that made it died): nothing can run in it again;
- `expired`: older than `max_age_s`, when given.

Every backend runs a `PeriodicSweeper` (finished pods and its own orphans only: it never
touches another live process's pods). Deletes are idempotent; a 404 is fine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import threading
from typing import Any, Collection

from actors.sandbox.kubernetes.pod import INSTANCE_LABEL, RUN_LABEL, SANDBOX_SELECTOR, label_value
from harnesses.sandbox import SandboxError

log = logging.getLogger(__name__)


def why_sweep(pod: Any, *, dead_runs: Collection[str] = (), live_runs: Collection[str] | None = None,
              instance: str | None = None, keep: Collection[str] = (), max_age_s: float | None = None,
              now: dt.datetime | None = None) -> str | None:
    """Why this pod should go, or None to keep it (see the module docstring)."""
    meta = pod.metadata
    if meta.name in keep:
        return None
    labels = meta.labels or {}
    run = labels.get(RUN_LABEL)
    if run is not None and run in {label_value(r) for r in dead_runs}:
        return "dead run"
    if live_runs is not None and run not in {label_value(r) for r in live_runs}:
        return "not live"
    if instance is not None and labels.get(INSTANCE_LABEL) == instance:
        return "orphan"
    phase = pod.status.phase if pod.status is not None else None
    if phase in ("Succeeded", "Failed"):
        return "finished"
    if max_age_s is not None and meta.creation_timestamp is not None:
        now = now or dt.datetime.now(dt.timezone.utc)
        created = meta.creation_timestamp
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        if (now - created).total_seconds() > max_age_s:
            return "expired"
    return None


def sweep(api: Any, **rules: Any) -> dict[str, str]:
    """Delete the sandbox pods in api's namespace that `why_sweep` gives a reason for.
    Returns {pod name: reason} of those deleted (or already gone)."""
    deleted: dict[str, str] = {}
    for pod in api.list_pods(SANDBOX_SELECTOR):
        reason = why_sweep(pod, **rules)
        if reason is None or pod.metadata.deletion_timestamp is not None:
            continue
        try:
            api.delete_pod(pod.metadata.name)
        except SandboxError as e:
            log.warning("sweeper: could not delete %s: %s", pod.metadata.name, e)
            continue
        api.count("pods_swept")
        deleted[pod.metadata.name] = reason
    if deleted:
        log.info("sweeper deleted %d sandbox pod(s): %s", len(deleted), deleted)
    return deleted


class PeriodicSweeper:
    """A daemon thread sweeping finished pods and one backend's orphans every `interval_s`."""

    def __init__(self, backend: Any, interval_s: float):
        self.backend, self.interval_s = backend, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kube-sweeper", daemon=True)
        self._thread.start()

    def sweep_once(self) -> dict[str, str]:
        return sweep(self.backend.api, instance=self.backend.instance, keep=self.backend.live_names())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep_once()
            except Exception as e:  # noqa: BLE001 - the next round tries again
                log.warning("sweeper: %s", e)

    def stop(self) -> None:
        self._stop.set()


def main(argv: list[str] | None = None) -> int:
    """`python -m actors.sandbox.kubernetes.sweeper --run RUN`: delete a dead run's sandbox pods."""
    from actors.sandbox.config import KubernetesSandboxConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--namespace", default=KubernetesSandboxConfig().namespace)
    p.add_argument("--run", action="append", default=[], help="a dead run's label (repeatable)")
    p.add_argument("--max-age", type=float, default=None, help="also delete pods older than this many seconds")
    p.add_argument("--host", default=None, help="the API server (default: in-cluster, then kubeconfig)")
    p.add_argument("--kubeconfig", default=None)
    p.add_argument("--context", default=None)
    p.add_argument("--dry-run", action="store_true", help="only list what would go")
    args = p.parse_args(argv)
    from actors.sandbox.kubernetes.api import KubeAPI

    config = KubernetesSandboxConfig(namespace=args.namespace, host=args.host, kubeconfig=args.kubeconfig,
                                     context=args.context)
    api = KubeAPI(config)
    rules = dict(dead_runs=args.run, max_age_s=args.max_age)
    if args.dry_run:
        for pod in api.list_pods(SANDBOX_SELECTOR):
            reason = why_sweep(pod, **rules)
            if reason:
                print(f"{pod.metadata.name}\t{reason}")
        return 0
    for name, reason in sorted(sweep(api, **rules).items()):
        print(f"deleted {name}\t{reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
