"""One episode's pod as a sandbox: commands, files and the verifier, each through the exec stream
with a deadline, retried only when nothing can have run twice."""

from __future__ import annotations

import errno
import logging
import posixpath
import signal
import tempfile
import weakref
from pathlib import Path
from typing import Any, Protocol

from actors.sandbox import container_verify
from actors.sandbox.integrity import Snapshot
from actors.sandbox.kubernetes import stream as kx
from actors.sandbox.kubernetes.api import KubeAPI
from actors.sandbox.kubernetes.pod import CONTAINER, PodState, read_state, task_image
from actors.sandbox.output import FORK_MARKERS, Output, exit_cause
from harnesses.sandbox import ExecResult, Limits, SandboxError, VerifierRun

log = logging.getLogger(__name__)


class PodOwner(Protocol):
    """What a sandbox needs of the backend that made its pod (KubernetesSandboxBackend)."""

    config: Any
    api: KubeAPI

    def release(self, name: str) -> None: ...


class KubernetesSandbox:
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

    def __enter__(self) -> "KubernetesSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

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

    def _stream(self, argv: list[str], *, what: str, sink_factory, timeout_s: float, idempotent: bool,
                stdin: bytes | None = None):
        attempts = 1 + self.config.exec_retries
        for i in range(attempts):
            self._check_open()
            sink = sink_factory()
            try:
                outcome = kx.exec_stream(self.api.stream_api(), self.config.namespace, self.name, CONTAINER, argv,
                                         sink=sink, stdin=stdin, timeout_s=timeout_s,
                                         connect_timeout_s=self.config.exec_connect_timeout_s)
                self.api.count("execs")
                return outcome, sink
            except kx.ExecFailure as e:
                self.api.count("exec_failures")
                again = e.retryable and (idempotent or not e.started) and i + 1 < attempts and not self._closed
                if not again:
                    raise SandboxError(f"pod {self.name}: {what}: {e}{self._pod_hint()}") from None
                self.api.count("exec_retries")
                log.info("pod %s: %s: %s; retrying", self.name, what, e)
                self.api.sleep(self.api.backoff(i))
        raise AssertionError("unreachable")

    def _pod_hint(self) -> str:
        """Why the stream may have failed, from the pod's state ('' when it looks healthy)."""
        try:
            pod = self.api.read_pod(self.name)
        except SandboxError:
            return ""
        if pod is None:
            return " (the pod is gone)"
        state = read_state(pod)
        return "" if state.state == PodState.READY else f" (pod: {state.describe()})"

    # ------------------------------------------------------------------ setup

    def _setup(self, upload: bool) -> None:
        outcome, sink = self._stream(kx.probe_argv(self.task.workdir), what="probe", idempotent=True,
                                     timeout_s=self.config.file_timeout_s, sink_factory=lambda: kx.Bounded(1 << 16))
        if outcome.exit_code != 0:
            raise SandboxError(f"pod {self.name}: the probe failed (exit {outcome.exit_code}): "
                               f"{outcome.stderr.decode(errors='replace')[:300]}")
        missing = bytes(sink.data).decode(errors="replace").split()
        no_workdir = [m for m in missing if m.startswith("workdir:")]
        tools = [m for m in missing if not m.startswith("workdir:")]
        if tools or (no_workdir and not upload):
            raise SandboxError(f"pod {self.name}: image {task_image(self.task, self.config)[0]} lacks what the "
                               f"kubernetes backend needs: {' '.join(missing)} (bash, head, tar, timeout, and the "
                               f"task's working directory)")
        if upload:
            self._place_task_files(make_workdir=bool(no_workdir))
        self._baseline = container_verify.snapshot(self)

    def _place_task_files(self, make_workdir: bool) -> None:
        """Docker's COPY, for images not built from the task's Dockerfile."""
        if make_workdir:
            with tempfile.TemporaryDirectory() as empty:
                self.upload_dir(Path(empty), self.task.workdir)
        env_dir = Path(self.task.path) / "environment"
        for src, dest in getattr(self.task, "app_files", ()):
            source = env_dir / src
            if source.is_dir():
                self.upload_dir(source, dest)
                continue
            data, mode = source.read_bytes(), (source.stat().st_mode & 0o777) | 0o600
            target = posixpath.join(dest, source.name) if dest.endswith("/") else dest
            try:
                self._write(target, data, mode=mode)
            except IsADirectoryError:
                self._write(posixpath.join(dest, source.name), data, mode=mode)

    # ------------------------------------------------------------------ Sandbox protocol

    def exec(self, command: str, *, timeout_s: float, cwd: str = "/app",
             env: dict[str, str] | None = None) -> ExecResult:
        """Run `bash -c command` in the pod under `timeout`; never raises for the command's failure."""
        if not timeout_s or timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        env = dict(env or {})
        for key, value in env.items():
            if not key or "=" in key or "\0" in key or "\0" in str(value) or not key.replace("_", "a").isalnum():
                raise ValueError(f"invalid environment variable {key!r}")
        self._check_open()
        script = kx.command_script(command, cwd=cwd, env=env, timeout_s=timeout_s, limits=self.limits)
        outcome, out = self._stream(
            kx.command_argv(script), what="command", stdin=script, idempotent=False,
            sink_factory=lambda: Output(self.limits.max_output_bytes),
            timeout_s=timeout_s + kx.KILL_AFTER_S + self.config.exec_grace_s)
        if outcome.exit_code == kx.BOOT_FAILED_EXIT and b"did not arrive whole" in outcome.stderr:
            raise SandboxError(f"pod {self.name}: the command did not reach the pod whole")
        if outcome.stderr:  # the wrapper's own complaints (none when all is well)
            out.add(outcome.stderr)
        return _result(outcome, out, timeout_s, self.limits)

    def script(self, script: str, args: list[str], *, what: str) -> tuple[int, bytes, bytes]:
        """`bash -c script args` as its own exec (not an agent command); retried like a file copy."""
        out, sink = self._stream(["bash", "-c", script, "selfharness", *args], what=what, idempotent=True,
                                 timeout_s=self.config.file_timeout_s,
                                 sink_factory=lambda: kx.Bounded(container_verify.SNAPSHOT_CAP + (1 << 20)))
        return out.exit_code, bytes(sink.data), out.stderr

    def run_verifier(self, tests_dir: Path, command: str, *, timeout_s: float, cwd: str,
                     keep_processes: bool = False) -> VerifierRun:
        """The verifier in the clean context of container_verify.py (see the module docstring)."""
        self._check_open()
        return container_verify.verify(self, self._baseline, tests_dir, command, timeout_s=timeout_s, cwd=cwd,
                                       keep_processes=keep_processes)

    def write_file(self, path: str, data: bytes) -> None:
        """Write `data` to `path` (parents made) as a one-file tar through the exec stream."""
        self._write(path, data, mode=0o644)

    def _write(self, path: str, data: bytes, mode: int) -> None:
        path = _absolute(path)
        directory, base = posixpath.split(path)
        if not base:
            raise IsADirectoryError(errno.EISDIR, f"is a directory: {path}")
        blob = kx.tar_file(base, data, mode)
        out, _ = self._stream(kx.write_argv(directory or "/", len(blob), base), what=f"write {path}", stdin=blob,
                              sink_factory=lambda: kx.Bounded(1 << 16), timeout_s=self.config.file_timeout_s,
                              idempotent=True)
        _raise_for_file(out, path)

    def read_file(self, path: str) -> bytes:
        """The bytes of `path` (tar out of the pod); FileNotFoundError when it does not exist."""
        path = _absolute(path)
        cap = self.config.max_read_mb << 20
        out, sink = self._stream(kx.read_argv(path, cap), what=f"read {path}", timeout_s=self.config.file_timeout_s,
                                 sink_factory=lambda: kx.Bounded(cap + (1 << 20)), idempotent=True)
        _raise_for_file(out, path)
        try:
            return kx.untar_one(bytes(sink.data), posixpath.basename(path))
        except kx.ExecFailure as e:
            raise SandboxError(f"pod {self.name}: {e}") from None

    def upload_dir(self, local_dir: Path, sandbox_path: str) -> None:
        """Copy `local_dir`'s contents into `sandbox_path` (made if missing) as one tar, modes kept."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"not a local directory: {local_dir}")
        path = _absolute(sandbox_path)
        blob = kx.tar_dir(local_dir)
        out, _ = self._stream(kx.write_argv(path, len(blob)), what=f"upload to {path}", stdin=blob,
                              sink_factory=lambda: kx.Bounded(1 << 16), timeout_s=self.config.file_timeout_s,
                              idempotent=True)
        _raise_for_file(out, path)


# --------------------------------------------------------------------------- helpers


def _absolute(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise ValueError(f"sandbox paths must be absolute, got {path!r}")
    return posixpath.normpath(path)


def _raise_for_file(out: kx.ExecOutcome, path: str) -> None:
    code = out.exit_code
    if code == 0:
        return
    message = out.stderr.decode(errors="replace").strip()[:300] or f"exit {code}"
    if code == kx.READ_MISSING:
        raise FileNotFoundError(errno.ENOENT, f"no such file in the sandbox: {path}")
    if code == kx.READ_ISDIR:
        raise IsADirectoryError(errno.EISDIR, f"is a directory in the sandbox: {path}")
    if code == kx.READ_DENIED:
        raise PermissionError(errno.EACCES, f"permission denied in the sandbox: {path}")
    if code == kx.READ_TOOBIG:
        raise OSError(errno.EFBIG, f"{path}: {message}")
    if code == kx.READ_NOTFILE:
        raise OSError(errno.EINVAL, f"not a regular file in the sandbox: {path}")
    if code == kx.WRITE_NODIR:
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: {message}")
    raise OSError(errno.EIO, f"{path}: {message}")


def _result(outcome: kx.ExecOutcome, out: Output, timeout_s: float, limits: Limits) -> ExecResult:
    """ExecResult with `killed_by` read from the exit code, as the local backend reads it."""
    code, duration = outcome.exit_code, outcome.duration_s
    timed_out = code in (kx.TIMEOUT_EXIT, 128 + signal.SIGKILL) and duration >= timeout_s * 0.98
    killed_by: str | None = None
    if timed_out:
        code = kx.TIMEOUT_EXIT
        killed_by = "processes" if out.contains(FORK_MARKERS) else "timeout"
    else:
        killed_by = exit_cause(code, out)
    return ExecResult(exit_code=code, output=out.text(), duration_s=duration, timed_out=timed_out,
                      truncated=out.dropped > 0, output_bytes=out.total, killed_by=killed_by)
