"""The kubernetes sandbox backend: one pod per episode, from the task's own image.

`open(task, limits)`:

1. A pod from `pod_manifest` (kube_pod.py): the task's `docker_image` (or a registry mirror of
   it), requests and limits from task.toml, no service-account token, labels for the run, the
   episode, the task and this backend instance. With a warm pool, a ready pod of the same
   template is taken instead (relabelled for its episode).
2. Its status is polled until it is Ready or `ready_timeout_s` passes. An image-pull error, a
   pod that cannot be scheduled, one that is not ready in time or dies while starting is an
   infrastructure failure: the pod is deleted and a new one tried after a backoff, up to
   `start_retries` times; then `SandboxError`, which the episode records as `infra_error`,
   never as the agent's failure. Errors no new pod can fix (an invalid image name, a container
   that cannot be created) are not retried.
3. A probe checks that the image has what the exec protocol needs (kube_exec.py); tasks whose
   image was not built from their Dockerfile get their environment files copied in.

Commands, files and the verifier then run through the exec stream (kube_exec.py), each with a
deadline. The verifier runs in the clean context of container_verify.py: before it, every
process the agent left in the pod is stopped (unless the task declares `keep_processes`), so
none can change the reward after `test.sh` writes it; `/tests` and `/logs/verifier` are
compared with the snapshot taken at start (tampering is recorded) and replaced. A stream that
breaks or hangs is retried when nothing can have run twice (a refused handshake; file copies and probes, which are idempotent); an agent command whose stream broke
after it started is not re-run: that is a `SandboxError` (infrastructure), since the command
may or may not have had its effect.

`close()` always deletes the pod (a finalizer does it too if a sandbox is dropped unclosed);
`KubernetesSandboxBackend.close()` deletes whatever this backend still has. A periodic sweep
(kube_sweeper.py) deletes finished pods and this instance's orphans; `python -m
actors.sandbox.kube_sweeper --run RUN` deletes the pods of a dead run by its label.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import posixpath
import secrets
import signal
import socket
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from actors.sandbox import container_verify
from actors.sandbox import kube_exec as kx
from actors.sandbox.integrity import Snapshot
from actors.sandbox.kube_api import KubeAPI, KubeAPIError
from actors.sandbox.kube_pod import (CONTAINER, CREATOR_ANNOTATION, EPISODE_LABEL, WARM_LABEL, PodState, label_value,
                                     pod_labels, pod_manifest, pod_name, read_state, task_image, template_key)
from actors.sandbox.local import _FORK_MARKERS, _Output, exit_cause
from harnesses.sandbox import ExecResult, Limits, SandboxError, VerifierRun

log = logging.getLogger(__name__)

_NAME_TRIES = 3


class KubernetesSandboxBackend:
    """Makes sandbox pods (see the module docstring). Thread-safe: one backend serves every
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
        from actors.sandbox.kube_sweeper import PeriodicSweeper
        from actors.sandbox.kube_warm import WarmPool

        self.warm = WarmPool(self, config.warm_pool, config.warm_max_idle_s) if config.warm_pool else None
        self.sweeper = PeriodicSweeper(self, config.sweep_interval_s) if config.sweep_interval_s else None
        atexit.register(self._close_at_exit)

    # ------------------------------------------------------------------ public

    def open(self, task: Any, limits: Limits = Limits()) -> "KubernetesSandbox":
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

    def _ready_sandbox(self, name: str, task: Any, limits: Limits, upload: bool) -> "KubernetesSandbox":
        sandbox = KubernetesSandbox(self, name, task, limits)
        try:
            sandbox._setup(upload)
        except BaseException:
            sandbox.close()
            raise
        return sandbox

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


class KubernetesSandbox:
    """One episode's pod; every operation goes through the exec stream (see kube_exec.py)."""

    def __init__(self, backend: KubernetesSandboxBackend, name: str, task: Any, limits: Limits):
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
            sink_factory=lambda: _Output(self.limits.max_output_bytes),
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


def _result(outcome: kx.ExecOutcome, out: _Output, timeout_s: float, limits: Limits) -> ExecResult:
    """ExecResult with `killed_by` read from the exit code, as the local backend reads it."""
    code, duration = outcome.exit_code, outcome.duration_s
    timed_out = code in (kx.TIMEOUT_EXIT, 128 + signal.SIGKILL) and duration >= timeout_s * 0.98
    killed_by: str | None = None
    if timed_out:
        code = kx.TIMEOUT_EXIT
        killed_by = "processes" if out.contains(_FORK_MARKERS) else "timeout"
    else:
        killed_by = exit_cause(code, out)
    return ExecResult(exit_code=code, output=out.text(), duration_s=duration, timed_out=timed_out,
                      truncated=out.dropped > 0, output_bytes=out.total, killed_by=killed_by)
