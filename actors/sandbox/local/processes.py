"""Stopping and reaping a command's processes: the next command must start clean, and a process left
behind (a zombie included) would still count against the sandbox uid's RLIMIT_NPROC."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from typing import Any

KILL_WAIT_S = 5.0
"""How long `reap_namespace` keeps SIGKILLing what is left of a pid namespace."""


def pid_ns_members(ns_link: str) -> list[int]:
    """Host pids of the processes in the pid namespace whose /proc link reads `ns_link`."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns_link:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def count_processes_of(uid: int) -> int:
    """How many processes host uid `uid` runs."""
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return n


def wait_bwrap(proc: subprocess.Popen, deadline: float | None) -> tuple[int, Any] | None:
    """Reap bwrap (with its rusage, which includes the command's); None at the deadline."""
    delay = 0.001
    while True:
        try:
            pid, wstatus, rusage = os.wait4(proc.pid, os.WNOHANG if deadline is not None else 0)
        except ChildProcessError:
            return (proc.returncode if proc.returncode is not None else -1), resource.struct_rusage((0.0,) * 16)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(wstatus)
            return proc.returncode, rusage
        if time.monotonic() >= deadline:  # type: ignore[operator]
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def kill_sandbox(proc: subprocess.Popen, init_pid: int | None) -> None:
    """SIGKILL the sandbox's pid 1: the kernel kills its whole pid namespace, and bwrap,
    its parent, reaps it and exits. Only if bwrap does not, SIGKILL bwrap's group too
    (killing bwrap first would orphan its pid 1 as a zombie that the host's init
    reaps whenever it likes, and that still counts against the uid's RLIMIT_NPROC).
    """
    if proc.returncode is not None:
        return
    if init_pid:
        try:
            os.kill(init_pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        else:
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                        return  # exited; the caller reaps it
                except ChildProcessError:
                    return
                time.sleep(0.002)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def reap_namespace(ns_link: str) -> None:
    """Wait until no process of the pid namespace is left (SIGKILLing stragglers)."""
    end = time.monotonic() + KILL_WAIT_S
    while True:
        members = pid_ns_members(ns_link)
        if not members or time.monotonic() > end:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
