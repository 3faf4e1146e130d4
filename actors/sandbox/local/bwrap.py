"""The command line of one command: the bwrap isolation and the resource limits that
actors/sandbox/local/__init__.py explains, as argv (util-linux `prlimit` before bwrap), or as
rlimits set in the child where there is no prlimit(1)."""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

from actors.sandbox.local.paths import ROOTS
from harnesses.sandbox import Limits, SandboxError

INSTALL_HINT = "bubblewrap (bwrap) is not installed: sudo apt-get install -y bubblewrap"

BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}

PID1 = 'exec 3>&2 2>/dev/null; bash -c "$1" 2>&3 3>&-; exit $?'
"""The script of the sandbox's pid 1; the command runs as `bash -c "$1"` under it."""


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxError(INSTALL_HINT)
    return path


def prlimit_argv(prlimit: str, limits: Limits, nproc: int) -> list[str]:
    """`prlimit ... --`: the limits, set right before it execs bwrap."""
    return [prlimit,
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            f"--as={limits.memory_mb * 1024 * 1024}",
            f"--nproc={nproc}",
            f"--fsize={limits.max_file_mb * 1024 * 1024}",
            "--core=0", "--"]


def set_rlimits(limits: Limits, nproc: int) -> None:
    """The same limits from a `preexec_fn` (only without prlimit(1): unsafe in threaded processes)."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb << 20,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def bwrap_argv(bwrap: str, root: Path, command: str, cwd: str, env: dict[str, str], status_fd: int, *,
               extra_binds: list[str], shm_mb: int, path_env: str, read_only: tuple[str, ...] = ()) -> list[str]:
    """`bwrap ... bash -c PID1 bash COMMAND` over the sandbox at host directory `root`."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
            "--uid", "0", "--gid", "0", "--hostname", "sandbox",
            "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("bin", "sbin", "lib", "lib32", "libx32", "lib64"):
        host = f"/{top}"
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    argv += extra_binds
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(shm_mb * 1024 * 1024), "--tmpfs", "/dev/shm"]
    for sandbox_path, sub in ROOTS.items():
        argv += ["--ro-bind" if sandbox_path in read_only else "--bind", str(root / sub), sandbox_path]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/",
             "--json-status-fd", str(status_fd), "--chdir", cwd, "--clearenv"]
    for key, value in {**BASE_ENV, "PATH": path_env, **env}.items():
        argv += ["--setenv", key, value]
    # `--as-pid-1` with a bash of our own as pid 1 (it reaps orphans, and a fresh
    # `bash -c COMMAND` runs as its child): bwrap's own init reports the exit through
    # an eventfd and bwrap exits without reaping it, leaving a zombie that counts
    # against the uid's RLIMIT_NPROC until the host's init reaps it (if ever).
    # Its own messages (e.g. "CPU time limit exceeded") go to /dev/null.
    argv += ["--as-pid-1", "bash", "-c", PID1, "bash", command]
    return argv
