"""The sandbox itself: a host directory that bwrap shows as `/`, with its lifecycle, the task's files
placed at open, host-side file access, and the verifier run in a context the agent never had."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import threading
import weakref
from pathlib import Path
from typing import Any

from actors.sandbox.integrity import Snapshot, diff, expected_tests, host_snapshot, read_rewards, under, unexpected
from actors.sandbox.local.disk import disk_usage
from actors.sandbox.local.hostdir import cleanup, make_layout, own, rmtree
from actors.sandbox.local.paths import ROOTS, SandboxPathError, resolve_path, split_path
from actors.sandbox.local.run import CommandRunner
from actors.sandbox.local.uids import UidLease
from harnesses.sandbox import (LOGS_DIR, TESTS_DIR, VERIFIER_DIR, VERIFIER_ENV, ExecResult, Limits, SandboxError,
                               VerifierRun)


class LocalSandbox(CommandRunner):
    """One sandbox: a host directory plus the bwrap command line that shows it as `/`."""

    def __init__(self, root: Path, limits: Limits, *, bwrap: str, lease: UidLease | None,
                 extra_binds: list[str], path_env: str, shm_mb: int):
        super().__init__(root, limits, bwrap=bwrap, uid=lease.uid if lease else None, extra_binds=extra_binds,
                         path_env=path_env, shm_mb=shm_mb)
        self._lease = lease
        self._lock = threading.RLock()
        self._baseline: Snapshot = {}
        make_layout(root, self.uid)
        self._finalizer = weakref.finalize(self, cleanup, root, lease)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop a running command, remove the directory, release the uid. Idempotent."""
        self._closed = True
        proc = self._current
        if proc is not None:  # an exec in another thread: stop it so we can clean up
            self._kill(proc, self._current_init)
        with self._lock:
            self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"sandbox {self.root} is closed")

    # ------------------------------------------------------------------ setup

    def _setup(self, task: Any) -> None:
        """At open: the task's files, the verifier's baseline, a first command, then the disk limit."""
        self._place_task_files(task)
        self._baseline = self._verifier_snapshot()
        self._probe()
        self._set_disk_baseline()

    def _place_task_files(self, task: Any) -> None:
        """Copy the task's Dockerfile COPY sources to their destinations, Docker-style."""
        env_dir = Path(task.path) / "environment"
        for src, dest in getattr(task, "app_files", ()):
            s = env_dir / src
            try:
                split_path(dest)
            except SandboxPathError as e:
                raise SandboxError(f"task {task.name}: COPY {src} {dest}: the local backend can only "
                                   f"place files under {', '.join(ROOTS)} ({e}); use the kubernetes backend") from None
            if s.is_dir():
                self.upload_dir(s, dest)
            else:
                target = dest
                if dest.endswith("/"):
                    target = posixpath.join(dest, s.name)
                else:
                    try:
                        if self._resolve(dest).is_dir():
                            target = posixpath.join(dest, s.name)
                    except FileNotFoundError:
                        pass
                self._copy_file(s, target)

    def _probe(self) -> None:
        """Run `true` once so that a broken setup fails here, with bwrap's message."""
        result = self.exec("true", timeout_s=30, cwd="/")
        if result.exit_code != 0:
            raise SandboxError(f"the sandbox does not start: `true` exited {result.exit_code}: {result.output}")

    def _set_disk_baseline(self) -> None:
        self._disk_limit = disk_usage(self.root) + self.limits.disk_mb * 1024 * 1024

    # ------------------------------------------------------------------ files

    def _resolve(self, path: str, *, follow_final: bool = True, create_dirs: bool = False) -> Path:
        """The host path of sandbox `path`, following symlinks as the sandbox would (paths.resolve_path)."""
        return resolve_path(self.root, path, uid=self.uid, follow_final=follow_final, create_dirs=create_dirs)

    def _own(self, host_path: Path) -> None:
        own(host_path, self.uid)

    def write_file(self, path: str, data: bytes) -> None:
        """Write `data` to sandbox `path` (parents are created), owned by the sandbox user."""
        self._write(path, data, mode=0o644)

    def _write(self, path: str, data: bytes, mode: int) -> None:
        with self._lock:
            self._check_open()
            host = self._resolve(path, create_dirs=True)
            if host.is_dir() and not host.is_symlink():
                raise IsADirectoryError(errno.EISDIR, f"is a directory in the sandbox: {path}")
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            try:
                os.fchmod(fd, mode)
                if self.uid is not None:
                    os.fchown(fd, self.uid, self.uid)
                with os.fdopen(fd, "wb", closefd=False) as f:
                    f.write(data)
            finally:
                os.close(fd)

    def _copy_file(self, src: Path, path: str) -> None:
        self._write(path, src.read_bytes(), mode=stat.S_IMODE(src.stat().st_mode) | 0o600)

    def read_file(self, path: str) -> bytes:
        """The bytes of sandbox `path`; FileNotFoundError when it does not exist."""
        with self._lock:
            self._check_open()
            host = self._resolve(path)
            fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, f"is a directory in the sandbox: {path}")
                if not stat.S_ISREG(st.st_mode):
                    raise OSError(errno.EINVAL, f"not a regular file in the sandbox: {path}")
                with os.fdopen(fd, "rb", closefd=False) as f:
                    return f.read()
            finally:
                os.close(fd)

    def upload_dir(self, local_dir: Path, sandbox_path: str) -> None:
        """Copy `local_dir`'s contents into `sandbox_path` (created if missing), keeping modes."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"not a local directory: {local_dir}")
        with self._lock:
            self._check_open()
            host = self._resolve(sandbox_path, create_dirs=True)
            if not host.exists():
                os.mkdir(host, 0o755)
                self._own(host)
            for entry in sorted(os.scandir(local_dir), key=lambda e: e.name):
                target = posixpath.join(sandbox_path, entry.name)
                if entry.is_dir():
                    self.upload_dir(Path(entry.path), target)
                elif entry.is_file():
                    self._copy_file(Path(entry.path), target)

    # ------------------------------------------------------------------ exec

    def exec(self, command: str, *, timeout_s: float, cwd: str = "/app",
             env: dict[str, str] | None = None) -> ExecResult:
        """Run `bash -c command` in a new bwrap process; never raises for the command's failure."""
        return self._exec(command, timeout_s, cwd, env)

    def _exec(self, command: str, timeout_s: float, cwd: str, env: dict[str, str] | None,
              read_only: tuple[str, ...] = ()) -> ExecResult:
        if not timeout_s or timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        env = dict(env or {})
        for key, value in env.items():
            if not key or "=" in key or "\0" in key or "\0" in str(value):
                raise ValueError(f"invalid environment variable {key!r}")
        with self._lock:
            self._check_open()
            missing = self._missing_cwd(cwd)
            if missing:
                msg = f"bash: cd: {cwd}: No such file or directory\n".encode()
                return ExecResult(exit_code=1, output=msg.decode(), duration_s=0.0, output_bytes=len(msg))
            return self._run(command, timeout_s, cwd, {k: str(v) for k, v in env.items()}, read_only)

    def _missing_cwd(self, cwd: str) -> bool:
        """True when cwd is inside a sandbox root and does not exist (the agent's doing)."""
        try:
            host = self._resolve(cwd)
        except SandboxPathError:
            return False  # a system path such as / or /usr: bwrap checks it
        except OSError:
            return True
        return not host.is_dir()

    # ------------------------------------------------------------------ the verifier

    def _verifier_snapshot(self) -> Snapshot:
        logs = self.root / ROOTS[LOGS_DIR]
        return {**host_snapshot(self.root / ROOTS[TESTS_DIR], TESTS_DIR),
                **host_snapshot(logs, LOGS_DIR, recursive=False),
                **host_snapshot(logs / "verifier", VERIFIER_DIR)}

    def _fresh_dir(self, host: Path) -> None:
        """Replace whatever is at host path `host` (a tree, a link, a FIFO) by an empty directory."""
        if os.path.isdir(host) and not os.path.islink(host):
            rmtree(host)
        elif os.path.lexists(host):
            os.unlink(host)
        os.mkdir(host, 0o755)
        self._own(host)

    def run_verifier(self, tests_dir: Path, command: str, *, timeout_s: float, cwd: str,
                     keep_processes: bool = False) -> VerifierRun:
        """The verifier in a context the agent never had (see integrity.py): what the agent left under
        /tests and /logs/verifier is recorded, both are replaced on the host (never through a command),
        and `command` runs with /tests bound read-only and the base environment. No process of the
        agent's can be left to interfere: each command's processes die with it (`keep_processes`
        changes nothing here)."""
        with self._lock:
            self._check_open()
            found = diff(self._baseline, self._verifier_snapshot())
            logs = self.root / ROOTS[LOGS_DIR]
            os.chmod(logs, 0o755)
            self._fresh_dir(self.root / ROOTS[TESTS_DIR])
            self._fresh_dir(logs / "verifier")
            self.upload_dir(Path(tests_dir), TESTS_DIR)
            left = unexpected(expected_tests(tests_dir), under(self._verifier_snapshot(), TESTS_DIR, VERIFIER_DIR),
                              change="not_cleared")
            result = self._exec(command, timeout_s, cwd, VERIFIER_ENV, read_only=(TESTS_DIR,))
            rewards = read_rewards(self)
        return VerifierRun(result=result, rewards=rewards, tampering=tuple(found + left))
