"""One episode's pod as a sandbox: commands, files and the verifier (actors/sandbox/container_sandbox.py), each
through the exec stream with a deadline, retried only when nothing can have run twice."""

from __future__ import annotations

import logging
import weakref
from typing import Any, Protocol

from actors.sandbox.container_sandbox import ExecSandbox
from actors.sandbox.integrity import Snapshot
from actors.sandbox.kubernetes import stream as kx
from actors.sandbox.kubernetes.api import KubeAPI
from actors.sandbox.kubernetes.pod import CONTAINER, PodState, read_state, task_image
from harnesses.sandbox import Limits, SandboxError

log = logging.getLogger(__name__)


class PodOwner(Protocol):
    """What a sandbox needs of the backend that made its pod (KubernetesSandboxBackend)."""

    config: Any
    api: KubeAPI

    def release(self, name: str) -> None: ...


class KubernetesSandbox(ExecSandbox):
    """One episode's pod; every operation goes through the exec stream (see stream.py)."""

    def __init__(self, backend: PodOwner, name: str, task: Any, limits: Limits):
        self.backend, self.name, self.task, self.limits = backend, name, task, limits
        self.config, self.api = backend.config, backend.api
        self._closed = False
        self._baseline: Snapshot = {}
        self._finalizer = weakref.finalize(self, backend.release, name)

    @property
    def pod_name(self) -> str:
        return self.name

    @property
    def _what(self) -> str:
        return f"pod {self.name}"

    def image_name(self) -> str:
        return task_image(self.task, self.config)[0]

    def close(self) -> None:
        """Delete the pod. Idempotent; never raises (a failed delete is left to the sweeper)."""
        self._closed = True
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"sandbox pod {self.name} is closed")

    # ------------------------------------------------------------------ the stream

    def _exec_once(self, argv: list[str], *, sink, stdin: bytes | None, timeout_s: float):
        return kx.exec_stream(self.api.stream_api(), self.config.namespace, self.name, CONTAINER, argv, sink=sink,
                              stdin=stdin, timeout_s=timeout_s, connect_timeout_s=self.config.exec_connect_timeout_s)

    def _retry_pause(self, attempt: int) -> None:
        self.api.sleep(self.api.backoff(attempt))

    def _count(self, what: str) -> None:
        self.api.count(what)

    def _hint(self) -> str:
        """Why the stream may have failed, from the pod's state ('' when it looks healthy)."""
        try:
            pod = self.api.read_pod(self.name)
        except SandboxError:
            return ""
        if pod is None:
            return " (the pod is gone)"
        state = read_state(pod)
        return "" if state.state == PodState.READY else f" (pod: {state.describe()})"
