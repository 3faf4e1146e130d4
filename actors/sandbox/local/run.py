"""Running one command: a fresh bwrap process over the sandbox directory, watched until it ends or
must be stopped (the wall clock, the disk limit, `close()` from another thread), then reaped, and
told apart: the command's own failure, a limit it hit (`killed_by`), or bwrap's (`SandboxError`)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from actors.sandbox.local.bwrap import bwrap_argv, prlimit_argv, set_rlimits
from actors.sandbox.local.disk import DiskWatch
from actors.sandbox.local.processes import count_processes_of, kill_sandbox, pid_ns_members, reap_namespace, wait_bwrap
from actors.sandbox.output import FORK_MARKERS, Output, exit_cause
from harnesses.sandbox import ExecResult, Limits, SandboxError

TIMEOUT_EXIT = 124
"""Exit code reported when the wall clock stopped a command (as `timeout(1)` does)."""
KILLED_EXIT = 128 + signal.SIGKILL

READ_CHUNK = 65536


class CommandRunner:
    """Runs commands, one bwrap process each, over the host directory `root`; LocalSandbox is one.
    `_argv` and `_reap_namespace` are what a subclass may change (the API server double's pods do)."""

    _kill = staticmethod(kill_sandbox)
    _reap_namespace = staticmethod(reap_namespace)

    def __init__(self, root: Path, limits: Limits, *, bwrap: str, uid: int | None, extra_binds: list[str],
                 path_env: str, shm_mb: int):
        self.root = root
        self.limits = limits
        self._bwrap = bwrap
        self._prlimit = shutil.which("prlimit")
        self.uid = uid
        self._extra_binds = extra_binds
        self._path_env = path_env
        self._shm_mb = max(1, min(shm_mb, limits.disk_mb))
        self._closed = False
        self._current: subprocess.Popen | None = None
        self._current_init: int | None = None
        self._disk_limit: int | None = None
        self._pass_fds: tuple[int, ...] = ()
        """More descriptors for bwrap (a subclass's namespaces)."""

    def _argv(self, command: str, cwd: str, env: dict[str, str], status_fd: int,
              read_only: tuple[str, ...] = ()) -> list[str]:
        argv = prlimit_argv(self._prlimit, self.limits, self._nproc_limit()) if self._prlimit else []
        return argv + bwrap_argv(self._bwrap, self.root, command, cwd, env, status_fd, extra_binds=self._extra_binds,
                                 shm_mb=self._shm_mb, path_env=self._path_env, read_only=read_only)

    def _nproc_limit(self) -> int:
        n = self.limits.max_processes
        if self.uid is None:  # the kernel also counts everything else this user runs
            n += count_processes_of(os.geteuid())
        return n

    def _preexec(self) -> None:  # only without prlimit(1)
        set_rlimits(self.limits, self._nproc_limit())

    def _run(self, command: str, timeout_s: float, cwd: str, env: dict[str, str],
             read_only: tuple[str, ...] = ()) -> ExecResult:
        lim = self.limits
        out = Output(lim.max_output_bytes)
        status_r, status_w = os.pipe()
        kwargs: dict[str, Any] = {}
        if self.uid is not None:
            kwargs.update(user=self.uid, group=self.uid, extra_groups=[])
        if not self._prlimit:
            kwargs["preexec_fn"] = self._preexec
        start = time.monotonic()
        deadline = start + timeout_s
        try:
            proc = subprocess.Popen(
                self._argv(command, cwd, env, status_w, read_only), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(status_w, *self._pass_fds),
                start_new_session=True, umask=0o022, env={"PATH": "/usr/bin:/bin"}, **kwargs)
        except OSError as e:
            os.close(status_r)
            raise SandboxError(f"cannot start bubblewrap ({self._bwrap}): {e}") from e
        finally:
            os.close(status_w)
        self._current, self._current_init = proc, None
        status_buf = b""
        status: dict[str, Any] = {}
        reason: str | None = None
        n_procs = 0
        disk = DiskWatch(self.root, self._disk_limit, start)
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        out_fd = proc.stdout.fileno()
        sel.register(out_fd, selectors.EVENT_READ)
        sel.register(status_r, selectors.EVENT_READ)
        try:
            open_fds = 2
            while open_fds:
                now = time.monotonic()
                if now >= deadline:
                    reason = "timeout"
                    break
                if self._closed:
                    reason = "closed"
                    break
                for key, _ in sel.select(disk.wait(deadline - now, now)):
                    chunk = os.read(key.fd, READ_CHUNK)
                    if not chunk:
                        sel.unregister(key.fd)
                        open_fds -= 1
                    elif key.fd == out_fd:
                        out.add(chunk)
                    else:
                        status_buf += chunk
                        while b"\n" in status_buf:
                            line, status_buf = status_buf.split(b"\n", 1)
                            try:
                                status.update(json.loads(line))
                            except ValueError:
                                pass
                            if "child-pid" in status:
                                self._current_init = int(status["child-pid"])
                if disk.over():
                    reason = "disk"
                    break
            if reason is None:
                waited = wait_bwrap(proc, deadline)
                if waited is None:
                    reason = "timeout"
                elif self._closed and "exit-code" not in status:
                    reason = "closed"  # close() from another thread stopped it
            if reason is not None:
                if "pid-namespace" in status:
                    n_procs = len(pid_ns_members(f"pid:[{status['pid-namespace']}]"))
                self._kill(proc, self._current_init)
                waited = wait_bwrap(proc, None)
            assert waited is not None
            rc, rusage = waited
        finally:
            sel.close()
            os.close(status_r)
            proc.stdout.close()
            if proc.returncode is None:  # an exception on our side: leave nothing running
                self._kill(proc, self._current_init)
                wait_bwrap(proc, None)
            self._current, self._current_init = None, None
            if (reason is not None or "exit-code" not in status) and "pid-namespace" in status:
                self._reap_namespace(f"pid:[{status['pid-namespace']}]")
        duration = time.monotonic() - start

        if "exit-code" not in status and reason is None:
            raise SandboxError(f"bubblewrap failed to set up the sandbox (exit {rc}): "
                               f"{out.text().strip() or '(no message)'}")
        killed_by: str | None = None
        timed_out = reason == "timeout"
        if reason == "timeout":
            exit_code = TIMEOUT_EXIT
            forked_out = n_procs >= max(1, lim.max_processes - 8) or out.contains(FORK_MARKERS)
            killed_by = "processes" if forked_out else "timeout"
        elif reason is not None:  # disk, closed
            exit_code = KILLED_EXIT
            killed_by = reason
        else:
            exit_code = int(status.get("exit-code", rc))
            cpu = rusage.ru_utime + rusage.ru_stime
            killed_by = exit_cause(exit_code, out, cpu_spent=cpu >= lim.cpu_seconds)
        return ExecResult(exit_code=exit_code, output=out.text(), duration_s=duration, timed_out=timed_out,
                          truncated=out.dropped > 0, output_bytes=out.total, killed_by=killed_by)
