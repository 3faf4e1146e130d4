"""The backend that makes sandbox pods: it starts each pod (retrying what a new pod can fix), or
takes a warm one, hands it to a KubernetesSandbox, and deletes every pod it made, whatever happens."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

from actors.sandbox.kubernetes.api import KubeAPI, KubeAPIError
from actors.sandbox.kubernetes.pod import (CONTAINER, CREATOR_ANNOTATION, EPISODE_LABEL, WARM_LABEL, PodState,
                                           label_value, pod_labels, pod_manifest, pod_name, read_state, task_image,
                                           template_key)
from actors.sandbox.kubernetes.sandbox import KubernetesSandbox
from harnesses.sandbox import Limits, SandboxError

log = logging.getLogger(__name__)

_NAME_TRIES = 3


class KubernetesSandboxBackend:
    """Makes sandbox pods (see actors/sandbox/kubernetes/__init__.py). Thread-safe: one backend serves every
    episode of a process."""

    def __init__(self, config: Any, *, api: KubeAPI | None = None):
        self.config = config
        self.api = api or KubeAPI(config)
        self.run = label_value(config.run_label or os.environ.get("SELFHARNESS_RUN") or "adhoc")
        self.instance = label_value(f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}")
        self._lock = threading.Lock()
        self._live: set[str] = set()
        """Pods this backend made and has not deleted (starting, in use, or warm)."""
        self._closed = False
        from actors.sandbox.kubernetes.sweeper import PeriodicSweeper
        from actors.sandbox.kubernetes.warm import WarmPool

        self.warm = WarmPool(self, config.warm_pool, config.warm_max_idle_s) if config.warm_pool else None
        self.sweeper = PeriodicSweeper(self, config.sweep_interval_s) if config.sweep_interval_s else None
        atexit.register(self._close_at_exit)

    # ------------------------------------------------------------------ public

    def open(self, task: Any, limits: Limits = Limits()) -> KubernetesSandbox:
        if self._closed:
            raise SandboxError("the kubernetes sandbox backend is closed")
        _, upload = task_image(task, self.config)
        episode = secrets.token_hex(6)
        if self.warm is not None:
            name = self.warm.take(task, limits)
            if name is not None:
                sandbox = self._adopt_warm(name, task, limits, episode, upload)
                if sandbox is not None:
                    return sandbox
        labels = pod_labels(task, run=self.run, episode=episode, instance=self.instance)
        last: PodState | None = None
        tries = 0
        for attempt in range(self.config.start_retries + 1):
            if attempt:
                self.api.count("start_retries")
                self.api.sleep(self.api.backoff(attempt - 1))
            tries += 1
            name, state = self.start_pod(task, limits, labels)
            if state.state == PodState.READY:
                return self._ready_sandbox(name, task, limits, upload)
            self.api.count(f"start_failed_{state.kind}")
            log.warning("task %s: pod %s did not start (%s)%s", task.name, name, state.describe(),
                        "; trying a new pod" if state.retryable and attempt < self.config.start_retries else "")
            last = state
            if not state.retryable:
                break
        image, _ = task_image(task, self.config)
        assert last is not None
        self.api.count("start_gave_up")
        raise SandboxError(f"task {task.name}: no pod of image {image} started ({tries} tried): {last.describe()}")

    def stats(self) -> dict[str, int]:
        """Counters: pods created and deleted, retries of every kind, start failures by kind, warm hits."""
        with self.api._stats_lock:
            stats = dict(self.api.stats)
        stats["pods_live"] = len(self._live)
        return stats

    def live_names(self) -> set[str]:
        with self._lock:
            return set(self._live)

    def _close_at_exit(self) -> None:
        self.api.no_retries = True
        self.close()

    def close(self) -> None:
        """Delete every pod this backend still has (warm ones too) and stop its threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            atexit.unregister(self._close_at_exit)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
        if self.sweeper is not None:
            self.sweeper.stop()
        if self.warm is not None:
            self.warm.close()
        for name in sorted(self.live_names()):
            self.release(name)

    # ------------------------------------------------------------------ pods

    def start_pod(self, task: Any, limits: Limits, labels: dict[str, str], *, warm: bool = False
                  ) -> tuple[str, PodState]:
        """Create one pod and wait for it: (name, its final state). A pod that did not get
        ready is deleted before this returns."""
        name = self._create(task, limits, labels, warm=warm)
        ok = False
        try:
            state = self._wait_ready(name, time.monotonic() + self.config.ready_timeout_s)
            ok = state.state == PodState.READY
            return name, state
        finally:
            if not ok:
                self.release(name)

    def _create(self, task: Any, limits: Limits, labels: dict[str, str], *, warm: bool) -> str:
        """POST the pod. A 409 after a create whose answer was lost (the retry finds the pod we
        made, by our creator token) adopts it; a 409 on someone else's pod tries a new name."""
        for _ in range(_NAME_TRIES):
            name, creator = pod_name(task.name), secrets.token_hex(8)
            manifest = pod_manifest(task, limits, self.config, labels, name=name, creator=creator, warm=warm)
            with self._lock:
                self._live.add(name)  # tracked before it exists: close() and the sweeper never miss it
            try:
                self.api.create_pod(manifest)
                self.api.count("pods_created")
                return name
            except KubeAPIError as e:
                if e.status != 409:
                    with self._lock:
                        self._live.discard(name)
                    raise
            existing = self.api.read_pod(name)
            annotations = (existing.metadata.annotations or {}) if existing is not None else {}
            if annotations.get(CREATOR_ANNOTATION) == creator:
                self.api.count("pods_created")
                self.api.count("create_adopted")
                return name
            with self._lock:
                self._live.discard(name)
            self.api.count("create_name_taken")
        raise SandboxError(f"task {task.name}: {_NAME_TRIES} pod names in a row were taken (409)")

    def _wait_ready(self, name: str, deadline: float) -> PodState:
        delay = self.config.poll_interval_s
        while True:
            pod = self.api.read_pod(name)
            if pod is None:
                return PodState(PodState.FAILED, "deleted", "NotFound", f"pod {name} disappeared while starting")
            state = read_state(pod)
            if state.state == PodState.FAILED and state.kind == "container":
                tail = self.api.pod_log(name, CONTAINER).strip()
                if tail:
                    state.message = f"{state.message}; log: {tail[-500:]}"
            if state.state != PodState.STARTING:
                return state
            left = deadline - time.monotonic()
            if left <= 0:
                kind = "unschedulable" if state.kind == "unschedulable" else "ready_timeout"
                return PodState(PodState.FAILED, kind, state.reason,
                                f"not ready after {self.config.ready_timeout_s:g}s ({state.describe()})")
            self.api.sleep(min(delay, left))
            delay = min(delay * 1.5, self.config.poll_interval_s * 4)

    def release(self, name: str) -> None:
        """Delete a pod (retried); a failure is logged, and this instance's sweep deletes it later."""
        try:
            self.api.delete_pod(name)
        except SandboxError as e:
            self.api.count("delete_failed")
            log.warning("could not delete sandbox pod %s (the sweeper will): %s", name, e)
        finally:
            with self._lock:
                self._live.discard(name)

    def _ready_sandbox(self, name: str, task: Any, limits: Limits, upload: bool) -> KubernetesSandbox:
        return KubernetesSandbox(self, name, task, limits).ready(upload)

    def _adopt_warm(self, name: str, task: Any, limits: Limits, episode: str, upload: bool):
        """Label a warm pod for its episode and check it; None (and the pod deleted) if it fails."""
        try:
            self.api.patch_labels(name, {EPISODE_LABEL: label_value(episode), WARM_LABEL: None})
            sandbox = self._ready_sandbox(name, task, limits, upload)
        except SandboxError as e:
            log.warning("warm pod %s is unusable (%s); starting a new one", name, e)
            self.api.count("warm_unusable")
            self.release(name)
            return None
        self.api.count("warm_hits")
        return sandbox

    def template_of(self, task: Any, limits: Limits) -> str:
        labels = pod_labels(task, run=self.run, episode="x", instance=self.instance)
        return template_key(pod_manifest(task, limits, self.config, labels, name="x"))
