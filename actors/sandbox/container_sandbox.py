"""A sandbox whose only way in is an exec into a container (kubernetes pods, docker containers).

`ExecSandbox` is the Sandbox protocol over one primitive each backend supplies, `_exec_once`: run an
argv in the container (stdin optional), stdout into a sink, and return its exit code and stderr,
or raise `ExecFailure` saying whether the command may have started and whether trying again can
help. Everything else is here once: the retries (`_stream`), the agent's commands (container_exec.command_script), files as
tar through the container's own `tar`, the start-up probe, the task's files for images not built
from its Dockerfile, and the verifier's clean context (container_verify.py).
"""

from __future__ import annotations

import errno
import logging
import posixpath
import signal
import tempfile
from pathlib import Path
from typing import Any

from actors.sandbox import container_exec as cx
from actors.sandbox import container_verify
from actors.sandbox.integrity import Snapshot
from actors.sandbox.output import FORK_MARKERS, Output, exit_cause
from harnesses.sandbox import ExecResult, Limits, SandboxError, VerifierRun

log = logging.getLogger(__name__)


class ExecSandbox:
    """The shared part of a container sandbox. Subclasses set `name`, `task`, `limits`, `config` (with
    `exec_grace_s`, `file_timeout_s`, `max_read_mb`, `exec_retries`) and `_closed`, and implement `_exec_once`,
    `_retry_pause`, `_check_open`, `_what` ('pod X', 'container X') and `close`."""

    name: str
    task: Any
    limits: Limits
    config: Any
    _baseline: Snapshot
    _closed: bool

    def _exec_once(self, argv: list[str], *, sink: Any, stdin: bytes | None, timeout_s: float) -> cx.ExecOutcome:
        """One exec of argv (stdout into sink); ExecFailure when it breaks (the backend's transport)."""
        raise NotImplementedError

    def _retry_pause(self, attempt: int) -> None:
        raise NotImplementedError

    def _hint(self) -> str:
        """Why an exec may have failed, from the container's state ('' when it looks healthy)."""
        return ""

    def _count(self, what: str) -> None:
        """A counter of the backend's (execs, exec_failures, exec_retries)."""

    def _check_open(self) -> None:
        raise NotImplementedError

    def _stream(self, argv: list[str], *, what: str, sink_factory, timeout_s: float, idempotent: bool,
                stdin: bytes | None = None) -> tuple[cx.ExecOutcome, Any]:
        """An exec with a fresh sink, tried again only when nothing can have run twice: a failure before it
        started, or any failure of an idempotent operation (our scripts, file copies, probes)."""
        attempts = 1 + self.config.exec_retries
        for i in range(attempts):
            self._check_open()
            sink = sink_factory()
            try:
                outcome = self._exec_once(argv, sink=sink, stdin=stdin, timeout_s=timeout_s)
                self._count("execs")
                return outcome, sink
            except cx.ExecFailure as e:
                self._count("exec_failures")
                again = e.retryable and (idempotent or not e.started) and i + 1 < attempts and not self._closed
                if not again:
                    raise SandboxError(f"{self._what}: {what}: {e}{self._hint()}") from None
                self._count("exec_retries")
                log.info("%s: %s: %s; retrying", self._what, what, e)
                self._retry_pause(i)
        raise AssertionError("unreachable")

    def ready(self, upload: bool):
        """This sandbox set up (`_setup`), or closed and the error raised."""
        try:
            self._setup(upload)
        except BaseException:
            self.close()  # type: ignore[attr-defined]
            raise
        return self

    @property
    def _what(self) -> str:
        raise NotImplementedError

    def image_name(self) -> str:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ setup

    def _setup(self, upload: bool) -> None:
        """Probe the image for what the exec protocol needs, place the task's files when the image was
        not built from its Dockerfile, and take the verifier's baseline snapshot."""
        outcome, sink = self._stream(cx.probe_argv(self.task.workdir), what="probe", idempotent=True,
                                     timeout_s=self.config.file_timeout_s, sink_factory=lambda: cx.Bounded(1 << 16))
        if outcome.exit_code != 0:
            raise SandboxError(f"{self._what}: the probe failed (exit {outcome.exit_code}): "
                               f"{outcome.stderr.decode(errors='replace')[:300]}")
        missing = bytes(sink.data).decode(errors="replace").split()
        no_workdir = [m for m in missing if m.startswith("workdir:")]
        tools = [m for m in missing if not m.startswith("workdir:")]
        if tools or (no_workdir and not upload):
            raise SandboxError(f"{self._what}: image {self.image_name()} lacks what a container sandbox needs: "
                               f"{' '.join(missing)} (bash, head, tar, timeout, and the task's working directory)")
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
        """Run `bash -c command` in the container under `timeout`; never raises for the command's failure."""
        if not timeout_s or timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        env = dict(env or {})
        for key, value in env.items():
            if not key or "=" in key or "\0" in key or "\0" in str(value) or not key.replace("_", "a").isalnum():
                raise ValueError(f"invalid environment variable {key!r}")
        self._check_open()
        script = cx.command_script(command, cwd=cwd, env=env, timeout_s=timeout_s, limits=self.limits)
        outcome, out = self._stream(
            cx.command_argv(script), what="command", stdin=script, idempotent=False,
            sink_factory=lambda: Output(self.limits.max_output_bytes),
            timeout_s=timeout_s + cx.KILL_AFTER_S + self.config.exec_grace_s)
        if outcome.exit_code == cx.BOOT_FAILED_EXIT and b"did not arrive whole" in outcome.stderr:
            raise SandboxError(f"{self._what}: the command did not reach the container whole")
        if outcome.stderr:  # the wrapper's own complaints (none when all is well)
            out.add(outcome.stderr)
        return _result(outcome, out, timeout_s)

    def script(self, script: str, args: list[str], *, what: str) -> tuple[int, bytes, bytes]:
        """`bash -c script args` as its own exec (not an agent command); retried like a file copy."""
        out, sink = self._stream(["bash", "-c", script, "selfharness", *args], what=what, idempotent=True,
                                 timeout_s=self.config.file_timeout_s,
                                 sink_factory=lambda: cx.Bounded(container_verify.SNAPSHOT_CAP + (1 << 20)))
        return out.exit_code, bytes(sink.data), out.stderr

    def run_verifier(self, tests_dir: Path, command: str, *, timeout_s: float, cwd: str,
                     keep_processes: bool = False) -> VerifierRun:
        """The verifier in the clean context of container_verify.py."""
        self._check_open()
        return container_verify.verify(self, self._baseline, tests_dir, command, timeout_s=timeout_s, cwd=cwd,
                                       keep_processes=keep_processes)

    def write_file(self, path: str, data: bytes) -> None:
        """Write `data` to `path` (parents made) as a one-file tar through an exec."""
        self._write(path, data, mode=0o644)

    def _write(self, path: str, data: bytes, mode: int) -> None:
        path = _absolute(path)
        directory, base = posixpath.split(path)
        if not base:
            raise IsADirectoryError(errno.EISDIR, f"is a directory: {path}")
        blob = cx.tar_file(base, data, mode)
        out, _ = self._stream(cx.write_argv(directory or "/", len(blob), base), what=f"write {path}", stdin=blob,
                              sink_factory=lambda: cx.Bounded(1 << 16), timeout_s=self.config.file_timeout_s,
                              idempotent=True)
        _raise_for_file(out, path)

    def read_file(self, path: str) -> bytes:
        """The bytes of `path` (tar out of the container); FileNotFoundError when it does not exist."""
        path = _absolute(path)
        cap = self.config.max_read_mb << 20
        out, sink = self._stream(cx.read_argv(path, cap), what=f"read {path}", timeout_s=self.config.file_timeout_s,
                                 sink_factory=lambda: cx.Bounded(cap + (1 << 20)), idempotent=True)
        _raise_for_file(out, path)
        try:
            return cx.untar_one(bytes(sink.data), posixpath.basename(path))
        except cx.ExecFailure as e:
            raise SandboxError(f"{self._what}: {e}") from None

    def upload_dir(self, local_dir: Path, sandbox_path: str) -> None:
        """Copy `local_dir`'s contents into `sandbox_path` (made if missing) as one tar, modes kept."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"not a local directory: {local_dir}")
        path = _absolute(sandbox_path)
        blob = cx.tar_dir(local_dir)
        out, _ = self._stream(cx.write_argv(path, len(blob)), what=f"upload to {path}", stdin=blob,
                              sink_factory=lambda: cx.Bounded(1 << 16), timeout_s=self.config.file_timeout_s,
                              idempotent=True)
        _raise_for_file(out, path)


# --------------------------------------------------------------------------- helpers


def _absolute(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise ValueError(f"sandbox paths must be absolute, got {path!r}")
    return posixpath.normpath(path)


def _raise_for_file(out: cx.ExecOutcome, path: str) -> None:
    code = out.exit_code
    if code == 0:
        return
    message = out.stderr.decode(errors="replace").strip()[:300] or f"exit {code}"
    if code == cx.READ_MISSING:
        raise FileNotFoundError(errno.ENOENT, f"no such file in the sandbox: {path}")
    if code == cx.READ_ISDIR:
        raise IsADirectoryError(errno.EISDIR, f"is a directory in the sandbox: {path}")
    if code == cx.READ_DENIED:
        raise PermissionError(errno.EACCES, f"permission denied in the sandbox: {path}")
    if code == cx.READ_TOOBIG:
        raise OSError(errno.EFBIG, f"{path}: {message}")
    if code == cx.READ_NOTFILE:
        raise OSError(errno.EINVAL, f"not a regular file in the sandbox: {path}")
    if code == cx.WRITE_NODIR:
        raise NotADirectoryError(errno.ENOTDIR, f"{path}: {message}")
    raise OSError(errno.EIO, f"{path}: {message}")


def _result(outcome: cx.ExecOutcome, out: Output, timeout_s: float) -> ExecResult:
    """ExecResult with `killed_by` read from the exit code, as the local backend reads it."""
    code, duration = outcome.exit_code, outcome.duration_s
    timed_out = code in (cx.TIMEOUT_EXIT, 128 + signal.SIGKILL) and duration >= timeout_s * 0.98
    killed_by: str | None = None
    if timed_out:
        code = cx.TIMEOUT_EXIT
        killed_by = "processes" if out.contains(FORK_MARKERS) else "timeout"
    else:
        killed_by = exit_cause(code, out)
    return ExecResult(exit_code=code, output=out.text(), duration_s=duration, timed_out=timed_out,
                      truncated=out.dropped > 0, output_bytes=out.total, killed_by=killed_by)
