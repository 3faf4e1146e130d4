"""One episode's container as a sandbox: every operation is a Docker exec (container_sandbox.py says what
runs), read here from the exec's raw socket with a deadline of our own.

`run_exec`: `exec_create` + `exec_start(socket=True)`; stdin (the command's script, a tar) is written
whole (the bootstrap reads exactly its length, so no half-close is needed); the multiplexed stream
(8-byte frame headers: 1 stdout, 2 stderr) is read with `select` until the daemon closes it or the
deadline passes, and the exit code comes from `exec_inspect`. A hung exec costs its deadline, never
the episode; a command that may have started is never run again (an infrastructure error instead).
"""

from __future__ import annotations

import logging
import select
import time
import weakref
from typing import Any

import msgspec

from actors.sandbox.container_exec import ExecFailure, ExecOutcome
from actors.sandbox.container_sandbox import ExecSandbox
from harnesses.sandbox import ExecResult, Limits, SandboxError

log = logging.getLogger(__name__)

STDOUT, STDERR = 1, 2


def _failure(e: Exception, *, started: bool) -> ExecFailure:
    import docker
    import requests

    if isinstance(e, docker.errors.NotFound):
        return ExecFailure(f"the container is gone ({e.explanation or e})", started=False, retryable=False)
    if isinstance(e, docker.errors.APIError):
        status = e.status_code or 0
        gone = status == 409 or "is not running" in str(e)
        return ExecFailure(f"docker: HTTP {status}: {e.explanation or e}", started=started and not gone,
                           retryable=status >= 500 and not gone)
    if isinstance(e, requests.RequestException):
        return ExecFailure(f"docker: the daemon did not answer: {e}", started=started)
    return ExecFailure(f"docker: {type(e).__name__}: {e}", started=True)


def run_exec(api: Any, container: str, argv: list[str], *, sink: Any, stdin: bytes | None,
             timeout_s: float) -> ExecOutcome:
    """Run argv in the container; stdout to `sink`, stderr returned. ExecFailure when the exec breaks,
    hangs past `timeout_s`, or its exit code cannot be had."""
    import docker
    import requests

    start = time.monotonic()
    deadline = start + timeout_s
    try:
        exec_id = api.exec_create(container, argv, stdin=stdin is not None, stdout=True, stderr=True)["Id"]
    except (docker.errors.APIError, requests.RequestException) as e:
        raise _failure(e, started=False) from None
    try:
        sock = api.exec_start(exec_id, socket=True)
    except (docker.errors.APIError, requests.RequestException) as e:
        raise _failure(e, started=True) from None
    raw = getattr(sock, "_sock", sock)
    err, buf = bytearray(), bytearray()
    try:
        if stdin is not None:
            raw.settimeout(max(0.1, deadline - time.monotonic()))
            raw.sendall(stdin)
        raw.setblocking(False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExecFailure(f"exec hung: not done within {timeout_s:.0f}s", started=True)
            ready, _, _ = select.select([raw], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                chunk = raw.recv(1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8:
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                kind, payload = buf[0], bytes(buf[8:8 + size])
                del buf[:8 + size]
                if kind == STDERR:
                    err += payload[: max(0, (1 << 20) - len(err))]
                else:
                    sink.add(payload)
    except ExecFailure:
        raise
    except OSError as e:
        raise ExecFailure(f"exec stream broke: {type(e).__name__}: {e}", started=True) from None
    finally:
        try:
            sock.close()
        except OSError:
            pass
    while True:
        try:
            info = api.exec_inspect(exec_id)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _failure(e, started=True) from None
        if not info.get("Running") and info.get("ExitCode") is not None:
            return ExecOutcome(int(info["ExitCode"]), bytes(err), time.monotonic() - start)
        if time.monotonic() > deadline:
            raise ExecFailure("exec: the stream ended but the process is still running", started=True)
        time.sleep(0.02)


class DockerSandbox(ExecSandbox):
    """One episode's container (see actors/sandbox/docker/__init__.py)."""

    def __init__(self, backend: Any, container_id: str, name: str, image: str, task: Any, limits: Limits):
        self.backend, self.id, self.name, self.image = backend, container_id, name, image
        self.task, self.limits, self.config = task, limits, backend.config
        self.api = backend.client.api
        self._closed = False
        self._baseline = {}
        self._finalizer = weakref.finalize(self, backend.release, name)

    @property
    def _what(self) -> str:
        return f"container {self.name}"

    def image_name(self) -> str:
        return self.image

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Remove the container (its processes die with it). Idempotent; never raises."""
        self._closed = True
        self._finalizer()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"sandbox container {self.name} is closed")

    def exec(self, command: str, *, timeout_s: float, cwd: str = "/app",
             env: dict[str, str] | None = None) -> ExecResult:
        self._check_open()  # closed before: an error; closed while it runs: the command was stopped
        started = time.monotonic()
        try:
            result = super().exec(command, timeout_s=timeout_s, cwd=cwd, env=env)
            return msgspec.structs.replace(result, killed_by="closed") if self._closed else result
        except SandboxError:
            if not self._closed:
                raise
            return ExecResult(exit_code=137, output="", duration_s=time.monotonic() - started, killed_by="closed")

    def _exec_once(self, argv: list[str], *, sink, stdin: bytes | None, timeout_s: float) -> ExecOutcome:
        return run_exec(self.api, self.id, argv, sink=sink, stdin=stdin, timeout_s=timeout_s)

    def _retry_pause(self, attempt: int) -> None:
        time.sleep(self.config.backoff_s * 2 ** attempt)

    def _hint(self) -> str:
        """Why an exec may have failed, from the container's state ('' when it looks healthy)."""
        try:
            state = self.api.inspect_container(self.id).get("State", {})
        except Exception:  # noqa: BLE001 - the daemon or the container is gone
            return " (the container is gone)"
        if state.get("Running"):
            return ""
        return f" (container {state.get('Status')}, exit {state.get('ExitCode')}, oom {state.get('OOMKilled')})"
