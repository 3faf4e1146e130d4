"""A warm pool: ready sandbox pods kept per pod template, so an episode skips scheduling,
the image pull and the container start.

A template is everything in a pod's spec that is not per episode (image, resources, working
directory, security, internet opt-in): `pod.template_key`. The first `take` of a template
returns None (the episode starts its own pod) and asks for `size` warm pods of it; every later
take returns one if one is ready and asks for a replacement. Warm pods carry
`selfharness.io/warm: "true"` and the run and instance labels, so the sweeper and
`KubernetesSandboxBackend.close()` find them; a taken pod is relabelled with its episode.
A pod idle longer than `max_idle_s` is deleted instead of used (its activeDeadlineSeconds
allows for that idle time).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from typing import Any

from actors.sandbox.kubernetes.pod import PodState, pod_labels
from harnesses.sandbox import Limits, SandboxError

log = logging.getLogger(__name__)
_WORKERS = 2


class WarmPool:
    def __init__(self, backend: Any, size: int, max_idle_s: float):
        self.backend, self.size, self.max_idle_s = backend, size, max_idle_s
        self._idle: dict[str, deque[tuple[str, float]]] = {}
        self._templates: dict[str, tuple[Any, Limits]] = {}
        self._starting: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=f"kube-warm-{i}", daemon=True)
                         for i in range(_WORKERS)]
        for t in self._workers:
            t.start()

    def take(self, task: Any, limits: Limits) -> str | None:
        """A ready pod of this task's template, or None; either way the pool is topped up."""
        key = self.backend.template_of(task, limits)
        stale: list[str] = []
        name = None
        now = time.monotonic()
        with self._lock:
            self._templates.setdefault(key, (task, limits))
            idle = self._idle.setdefault(key, deque())
            while idle:
                candidate, since = idle.popleft()
                if now - since > self.max_idle_s:
                    stale.append(candidate)
                    continue
                name = candidate
                break
            self._top_up(key)
        for pod in stale:
            self.backend.api.count("warm_expired")
            self.backend.release(pod)
        if name is None:
            self.backend.api.count("warm_misses")
        return name

    def idle_count(self, key: str | None = None) -> int:
        with self._lock:
            if key is not None:
                return len(self._idle.get(key, ()))
            return sum(len(d) for d in self._idle.values())

    def wait_idle(self, n: int, timeout_s: float) -> bool:
        """Until at least n pods are idle (tests and warm-up before a run)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.idle_count() >= n:
                return True
            time.sleep(0.05)
        return self.idle_count() >= n

    def _top_up(self, key: str) -> None:  # with the lock held
        need = self.size - len(self._idle.get(key, ())) - self._starting[key]
        for _ in range(max(0, need)):
            self._starting[key] += 1
            self._queue.put(key)

    def _work(self) -> None:
        while True:
            key = self._queue.get()
            if key is None or self._closed:
                return
            task, limits = self._templates[key]
            labels = pod_labels(task, run=self.backend.run, episode="warm", instance=self.backend.instance, warm=True)
            name, state = None, None
            try:
                name, state = self.backend.start_pod(task, limits, labels, warm=True)
            except SandboxError as e:
                log.warning("warm pool: a pod for %s did not start: %s", task.name, e)
            except Exception as e:  # noqa: BLE001 - a worker thread must not die
                log.warning("warm pool: %s: %s", type(e).__name__, e)
            with self._lock:
                self._starting[key] -= 1
                ready = state is not None and state.state == PodState.READY
                if ready and not self._closed:
                    self._idle.setdefault(key, deque()).append((name, time.monotonic()))
                    self.backend.api.count("warm_started")
                    continue
            if ready and name is not None:  # closed meanwhile
                self.backend.release(name)
            elif state is not None:
                self.backend.api.count("warm_start_failed")

    def close(self) -> None:
        """Stop starting pods and delete the idle ones."""
        with self._lock:
            self._closed = True
            names = [n for d in self._idle.values() for n, _ in d]
            self._idle.clear()
        for _ in self._workers:
            self._queue.put(None)
        for name in names:
            self.backend.release(name)
