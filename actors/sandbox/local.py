"""The local sandbox backend: one bubblewrap (`bwrap`) process per command.

A sandbox is a temporary directory on the host holding `app/ tests/ logs/ solution/
tmp/ home/`; every `exec` starts a NEW `bwrap ... bash -c COMMAND` that sees those
directories at `/app /tests /logs /solution /tmp /root`. Nothing but the files survives
between commands (the harness layer adds shell persistence on top).

Why each isolation choice is made:

- `--unshare-all` (network, pid, ipc, uts, cgroup, mount, user namespaces): no network
  at all (only `lo`, down), and a private pid namespace so that every process a command
  starts dies with it: the sandbox's pid 1 is a small bash (`--as-pid-1`) that runs
  `bash -c COMMAND` as its child and reaps orphans; when the command exits, pid 1
  exits and the kernel kills whatever is left (background jobs, fork bombs). Killing
  pid 1 from outside therefore kills every descendant, with no process-tree walking.
  (bwrap's own init is not used: bwrap exits without reaping it, and the zombie, left
  to the host's init, would count against RLIMIT_NPROC below.)
- `--die-with-parent`: if the harness process dies, its sandboxes die too.
- `--new-session`: the command cannot push input into a terminal of ours (TIOCSTI).
- A read-only host system (`/usr`, `/etc`, and `/bin /lib /lib64 /sbin` as symlinks or
  read-only binds, mirroring the host) so host tools work but cannot be changed; the
  sandbox's own root and `/dev` are remounted read-only (`--remount-ro`), because they
  are tmpfs (RAM) that a command could otherwise fill without bound; `/dev/shm` is a
  tmpfs with a fixed `--size`. Nothing else of the host is mounted: not the host's
  `/root`, not the project directory, not `/home`, `/sys` or `/var`.
- `--clearenv` and a fixed environment: no host variables (tokens, paths) leak in.
- `--disable-userns`: the command cannot create nested user namespaces, which would
  give it capabilities (e.g. to mount) inside them.
- Python: the host's `/usr/bin/python3` is used (it lives under `/usr`). When the host
  has none, `sys.base_prefix` is bound read-only at the same path, but never when it
  lives under `/root` or the project directory, which must stay invisible.

Resource limits (`Limits`), and how they hold when the harness runs as root:

- RLIMIT_NPROC is not enforced for uid 0 (the kernel exempts the host's root user, and
  a user namespace that maps sandbox uid 1000 to host uid 0 is still host uid 0: checked
  here, 200 of 200 background processes started under `--uid 1000`). So when we are
  root, each sandbox gets its own unused HOST uid (from a reserved range, locked with
  `flock` so concurrent sandboxes, even in different processes, never share one) and
  bwrap is started as that uid (`Popen(user=...)`; unprivileged bwrap then makes a user
  namespace in which the command is uid 0, like in a container, with no capabilities).
  RLIMIT_NPROC then applies, and since the kernel counts it per (user namespace, uid),
  it counts exactly this sandbox's processes. A fork bomb hits the cap (forks fail with
  EAGAIN), keeps retrying until the wall clock kills the pid namespace, and is recorded
  as `killed_by='processes'` (the processes in its pid namespace are counted at the
  kill). As a non-root user the same applies with the user's own uid; the kernel then
  also compares the user's total process count with the limit, so the limit is raised
  by the number of processes the user already runs.
  A side benefit of a non-root host uid: host files readable only by root (e.g.
  `/etc/shadow`) stay unreadable through the read-only binds.
- RLIMIT_CPU (SIGXCPU at `cpu_seconds`, SIGKILL a second later), RLIMIT_AS
  (`memory_mb`, per process: a cgroup would be needed to bound the sum, and cgroups are
  not reliably writable where this runs), RLIMIT_FSIZE (`max_file_mb`, SIGXFSZ) and
  RLIMIT_CORE=0 are set with util-linux `prlimit` right before it execs bwrap (a
  `preexec_fn` is only the fallback: it is unsafe in threaded processes such as Ray
  workers).
- Disk: the writable directories are host directories (they must outlive one bwrap
  process, so bwrap's `--tmpfs --size` cannot hold them). A file is bounded by
  RLIMIT_FSIZE; the total is bounded by a watchdog that measures the sandbox directory
  while a command runs and kills the command once it has grown the sandbox beyond
  `disk_mb` over what the task's files took at open (`killed_by='disk'`); the wall
  clock bounds the rest.
- Wall clock: bwrap runs in its own process group; on timeout the sandbox's pid 1 is
  SIGKILLed (which kills the whole pid namespace), then the group, and we wait until
  no process of that pid namespace is left, so the next command starts clean.
- Output: stdout and stderr share one pipe, read in chunks; the first and last
  `max_output_bytes / 2` bytes are kept (with a `[... N bytes truncated ...]` line in
  between) and the rest is only counted, so a 100 MB line costs no more memory than
  the cap.
- `killed_by`: 'timeout', 'processes' (the process cap was hit: counted at a timeout,
  or bash's "fork: retry" messages), 'disk', 'closed' (`close()` from another thread),
  'cpu' (SIGXCPU, or SIGKILL after the CPU limit), 'file_size' (SIGXFSZ),
  'memory' (detected from the allocation-failure messages programs print; RLIMIT_AS
  makes allocations fail rather than sending a signal), else 'signal N' for a crash.
  A shell reports a killed child as exit code 128+N, so a command that itself runs
  `exit 153` is indistinguishable from SIGXFSZ; that is inherent to `bash -c`.
- Infrastructure failures are told apart from the command's own failures with bwrap's
  `--json-status-fd`: it reports an exit code only once the sandbox was set up and the
  command started; when it does not, `SandboxError` carries bwrap's own message.

The verifier (`run_verifier`) runs in a context the agent never had: the host compares the
sandbox's `tests/` and `logs/verifier/` with their state at open (what the agent left there is
tampering, see integrity.py), replaces both, and runs the verifier with `/tests` bound read-only
and the base environment. No process of the agent's can be left to interfere: every command's
processes die with its pid namespace.

Host-side file access (`write_file`, `read_file`, `upload_dir`) resolves sandbox paths
on the host as the sandbox would see them: symlinks the agent made are followed inside
the sandbox's roots only, so a link to `/etc/shadow` or `../../..` is refused instead
of being followed on the host as root. No sandbox process runs while they do so (a
command's processes all die with its pid namespace), so nothing can swap a path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import posixpath
import random
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from actors.sandbox.integrity import Snapshot, diff, expected_tests, host_snapshot, read_rewards, under, unexpected
from harnesses.sandbox import (LOGS_DIR, TESTS_DIR, VERIFIER_DIR, VERIFIER_ENV, ExecResult, Limits, SandboxError,
                               VerifierRun)

INSTALL_HINT = "bubblewrap (bwrap) is not installed: sudo apt-get install -y bubblewrap"

ROOTS: dict[str, str] = {
    "/app": "app",
    "/tests": "tests",
    "/logs": "logs",
    "/solution": "solution",
    "/tmp": "tmp",
    "/root": "home",
}
"""Sandbox path -> directory under the sandbox's host directory."""

BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}

PROJECT_DIR = Path(__file__).resolve().parents[2]
"""The repository; never visible inside a sandbox."""

TIMEOUT_EXIT = 124
"""Exit code reported when the wall clock stopped a command (as `timeout(1)` does)."""
KILLED_EXIT = 128 + signal.SIGKILL

_PID1 = 'exec 3>&2 2>/dev/null; bash -c "$1" 2>&3 3>&-; exit $?'
"""The script of the sandbox's pid 1; the command runs as `bash -c "$1"` under it."""
_READ_CHUNK = 65536
_DISK_CHECK_S = 0.25
_KILL_WAIT_S = 5.0

_MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc",
                   b"out of memory", b"memory exhausted", b"failed to allocate")
_FORK_MARKERS = (b"fork: retry: Resource temporarily unavailable",
                 b"fork: Resource temporarily unavailable", b"can't fork")
_CRASH_SIGNALS = {signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS,
                  signal.SIGILL, signal.SIGFPE, signal.SIGTERM, signal.SIGSYS}


def exit_cause(exit_code: int, out: "_Output", *, cpu_spent: bool = False) -> str | None:
    """Why a finished command stopped, from its exit code and output: 'cpu', 'file_size', 'memory',
    'processes', 'signal N', or None (it ended by itself). Shared by every backend."""
    sig = exit_code - 128 if 128 < exit_code < 128 + 32 else 0
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_spent):
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if exit_code != 0 and out.contains(_MEMORY_MARKERS):
        return "memory"
    if out.contains(_FORK_MARKERS):
        return "processes"
    if sig in _CRASH_SIGNALS:
        return f"signal {sig}"
    return None


class SandboxPathError(ValueError):
    """A sandbox path outside the sandbox's roots, or one that tries to escape them."""


# --------------------------------------------------------------------------- helpers


def _bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxError(INSTALL_HINT)
    return path


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


def _pid_ns_members(ns_link: str) -> list[int]:
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


def _count_processes_of(uid: int) -> int:
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return n


def _disk_usage(root: Path, stop_above: int | None = None) -> int:
    """Bytes allocated under `root` (st_blocks); stops counting once above `stop_above`."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
        if stop_above is not None and total > stop_above:
            break
    return total


def _rmtree(path: Path) -> None:
    """Remove a sandbox directory whatever the agent did to its permissions."""
    if not os.path.lexists(path):
        return
    try:
        shutil.rmtree(path)
        return
    except OSError:
        pass
    # The agent made directories unreadable or read-only (root is not stopped by that,
    # another user is): give the owner rwx on every directory, top down, and retry.
    stack = [str(path)]
    while stack:
        d = stack.pop()
        try:
            os.chmod(d, 0o700)
            with os.scandir(d) as it:
                stack.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        warnings.warn(f"could not remove sandbox directory {path}", RuntimeWarning, stacklevel=2)


def _check_reachable(root: Path, uid: int) -> None:
    """bwrap runs as `uid`: every directory above the sandbox must be searchable by it."""
    for parent in root.parents:
        st = parent.stat()
        if not st.st_mode & stat.S_IXOTH and st.st_uid != uid:
            raise SandboxError(
                f"the sandbox runs as host uid {uid}, which cannot reach {root}: {parent} is not "
                f"searchable by other users (mode {stat.filemode(st.st_mode)}); use a base_dir "
                f"such as {tempfile.gettempdir()}")


class _UidLease:
    """An unused host uid, reserved by an flock on a file until released."""

    def __init__(self, first: int, count: int, lock_dir: Path):
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        start = random.randrange(count)
        for i in range(count):
            uid = first + (start + i) % count
            fd = os.open(lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxError(f"all {count} sandbox uids from {first} are in use (locks in {lock_dir})")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _cleanup(root: Path, lease: _UidLease | None) -> None:
    try:
        _rmtree(root)
    finally:
        if lease is not None:
            lease.release()


# --------------------------------------------------------------------------- backend


class LocalSandboxBackend:
    """Makes bubblewrap sandboxes on this machine (see the module docstring)."""

    sandbox_class: type["LocalSandbox"]  # LocalSandbox, set below; a test double's pods use a subclass

    def __init__(self, base_dir: str | Path | None = None, *, uid_first: int = 2_000_000,
                 uid_count: int = 4096, system_python: str = "/usr/bin/python3",
                 python_prefix: str | None = None, shm_mb: int = 64,
                 uid_lock_dir: str | Path | None = None):
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.uid_first, self.uid_count = uid_first, uid_count
        self.system_python = system_python
        self.python_prefix = python_prefix if python_prefix is not None else sys.base_prefix
        self.shm_mb = shm_mb
        self.uid_lock_dir = Path(uid_lock_dir) if uid_lock_dir else (
            Path(tempfile.gettempdir()) / "self-harness-sandbox-uids")

    def _python_binds(self) -> list[str]:
        """Extra read-only binds so that `python3` works inside (none when /usr has it)."""
        if os.path.exists(self.system_python):
            return []
        prefix = Path(self.python_prefix).resolve()
        if _is_under(prefix, Path("/usr")):
            return []
        for hidden in (Path("/root"), PROJECT_DIR):
            if _is_under(prefix, hidden):
                raise SandboxError(
                    f"the host has no {self.system_python} and this Python lives in {prefix}, under "
                    f"{hidden}, which a sandbox must not see: install python3 "
                    f"(sudo apt-get install -y python3) or use a Python outside {hidden}")
        return ["--ro-bind", str(prefix), str(prefix)]

    def open(self, task: Any, limits: Limits = Limits()) -> LocalSandbox:
        bwrap = _bwrap_path()
        extra = self._python_binds()
        path_env = BASE_ENV["PATH"]
        if extra:
            path_env += f":{extra[1]}/bin"
        lease = _UidLease(self.uid_first, self.uid_count, self.uid_lock_dir) if os.geteuid() == 0 else None
        if self.base_dir is not None:
            self.base_dir.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", getattr(task, "name", "task"))[:40]
        root: Path | None = None
        try:
            root = Path(tempfile.mkdtemp(prefix=f"sandbox-{name}-", dir=self.base_dir))
            sandbox = self.sandbox_class(root, limits, bwrap=bwrap, lease=lease, extra_binds=extra,
                                   path_env=path_env, shm_mb=self.shm_mb)
        except BaseException:
            if root is not None:
                _cleanup(root, lease)
            elif lease is not None:
                lease.release()
            raise
        try:
            if lease is not None:
                _check_reachable(root, lease.uid)
            sandbox._place_task_files(task)
            sandbox._baseline = sandbox._verifier_snapshot()
            sandbox._probe()
            sandbox._set_disk_baseline()
        except BaseException:
            sandbox.close()
            raise
        return sandbox


# --------------------------------------------------------------------------- sandbox


class _Output:
    """Head and tail of a stream, the middle counted and dropped."""

    def __init__(self, cap: int):
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk[-self.tail_cap:] if self.tail_cap else b""
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        head = self.head.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        if not self.dropped:
            return head + tail
        sep = "" if not head or head.endswith("\n") else "\n"
        return f"{head}{sep}[... {self.dropped} bytes truncated ...]\n{tail}"

    def contains(self, markers: tuple[bytes, ...]) -> bool:
        return any(m in self.head or m in self.tail for m in markers)


class LocalSandbox:
    """One sandbox: a host directory plus the bwrap command line that shows it as `/`."""

    def __init__(self, root: Path, limits: Limits, *, bwrap: str, lease: _UidLease | None,
                 extra_binds: list[str], path_env: str, shm_mb: int):
        self.root = root
        self.limits = limits
        self._bwrap = bwrap
        self._prlimit = shutil.which("prlimit")
        self._lease = lease
        self.uid = lease.uid if lease else None
        self._extra_binds = extra_binds
        self._path_env = path_env
        self._shm_mb = max(1, min(shm_mb, limits.disk_mb))
        self._lock = threading.RLock()
        self._closed = False
        self._current: subprocess.Popen | None = None
        self._current_init: int | None = None
        self._disk_limit: int | None = None
        self._baseline: Snapshot = {}
        self._pass_fds: tuple[int, ...] = ()
        """More descriptors for bwrap (a subclass's namespaces)."""
        for d in ("app", "tests", "logs", "logs/verifier", "solution", "tmp", "home"):
            (root / d).mkdir(exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        if self.uid is not None:
            for p in [root, *(root / d for d in ("app", "tests", "logs", "logs/verifier", "solution", "tmp", "home"))]:
                os.chown(p, self.uid, self.uid)
        self._finalizer = weakref.finalize(self, _cleanup, root, lease)

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

    def _place_task_files(self, task: Any) -> None:
        """Copy the task's Dockerfile COPY sources to their destinations, Docker-style."""
        env_dir = Path(task.path) / "environment"
        for src, dest in getattr(task, "app_files", ()):
            s = env_dir / src
            try:
                self._split(dest)
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
        self._disk_limit = _disk_usage(self.root) + self.limits.disk_mb * 1024 * 1024

    # ------------------------------------------------------------------ paths

    @staticmethod
    def _split(path: str) -> list[str]:
        """Validate a sandbox path: [root, component, ...]."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise SandboxPathError(f"sandbox paths must be absolute, got {path!r}")
        if "\0" in path:
            raise SandboxPathError(f"sandbox path contains a NUL byte: {path!r}")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise SandboxPathError(f"'..' is not allowed in sandbox paths: {path!r}")
        if not parts or "/" + parts[0] not in ROOTS:
            raise SandboxPathError(f"{path!r} is outside the sandbox's roots {', '.join(ROOTS)}")
        return ["/" + parts[0], *parts[1:]]

    def _resolve(self, path: str, *, follow_final: bool = True, create_dirs: bool = False) -> Path:
        """The host path of sandbox `path`, following symlinks as the sandbox would.

        Symlinks are resolved against the sandbox's roots, never against the host; a link
        that leads outside them raises SandboxPathError. The last component need not
        exist; a missing directory before it raises FileNotFoundError unless create_dirs.
        """
        parts = self._split(path)
        virt = parts[:1]                      # the sandbox path reached so far
        pending = list(reversed(parts[1:]))   # components still to walk
        hops = 0
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if len(virt) == 1:
                    raise SandboxPathError(f"{path!r} leads outside the sandbox's roots through '..'")
                virt.pop()
                continue
            host = self.root / ROOTS[virt[0]] / Path(*virt[1:], comp)
            final = not any(c not in ("", ".") for c in pending)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                if final:
                    return host
                if not create_dirs:
                    raise FileNotFoundError(errno.ENOENT, f"no such directory in the sandbox: "
                                            f"{'/'.join(virt + [comp])} (resolving {path})") from None
                os.mkdir(host, 0o755)
                self._own(host)
                virt.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode) and (follow_final or not final):
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, f"too many levels of symbolic links resolving {path!r}")
                target = os.readlink(host)
                if target.startswith("/"):
                    tparts = [p for p in target.split("/") if p not in ("", ".")]
                    if not tparts or "/" + tparts[0] not in ROOTS:
                        raise SandboxPathError(f"{path!r} is a symlink to {target!r}, outside the "
                                               f"sandbox's roots {', '.join(ROOTS)}")
                    virt = ["/" + tparts[0]]
                    pending.extend(reversed(tparts[1:]))
                else:
                    pending.extend(reversed(target.split("/")))
                continue
            if not final and not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, f"not a directory in the sandbox: "
                                         f"{'/'.join(virt + [comp])} (resolving {path})")
            virt.append(comp)
        return self.root / ROOTS[virt[0]] / Path(*virt[1:])

    def _own(self, host_path: Path) -> None:
        if self.uid is not None:
            os.chown(host_path, self.uid, self.uid, follow_symlinks=False)

    # ------------------------------------------------------------------ files

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

    def _argv(self, command: str, cwd: str, env: dict[str, str], status_fd: int,
              read_only: tuple[str, ...] = ()) -> list[str]:
        lim = self.limits
        argv: list[str] = []
        if self._prlimit:
            argv += [self._prlimit,
                     f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",
                     f"--as={lim.memory_mb * 1024 * 1024}",
                     f"--nproc={self._nproc_limit()}",
                     f"--fsize={lim.max_file_mb * 1024 * 1024}",
                     "--core=0", "--"]
        argv += [self._bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
                 "--uid", "0", "--gid", "0", "--hostname", "sandbox",
                 "--die-with-parent", "--new-session",
                 "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for top in ("bin", "sbin", "lib", "lib32", "libx32", "lib64"):
            host = f"/{top}"
            if os.path.islink(host):
                argv += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                argv += ["--ro-bind", host, host]
        argv += self._extra_binds
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(self._shm_mb * 1024 * 1024), "--tmpfs", "/dev/shm"]
        for sandbox_path, sub in ROOTS.items():
            argv += ["--ro-bind" if sandbox_path in read_only else "--bind", str(self.root / sub), sandbox_path]
        argv += ["--remount-ro", "/dev", "--remount-ro", "/",
                 "--json-status-fd", str(status_fd), "--chdir", cwd, "--clearenv"]
        for key, value in {**BASE_ENV, "PATH": self._path_env, **env}.items():
            argv += ["--setenv", key, value]
        # `--as-pid-1` with a bash of our own as pid 1 (it reaps orphans, and a fresh
        # `bash -c COMMAND` runs as its child): bwrap's own init reports the exit through
        # an eventfd and bwrap exits without reaping it, leaving a zombie that counts
        # against the uid's RLIMIT_NPROC until the host's init reaps it (if ever).
        # Its own messages (e.g. "CPU time limit exceeded") go to /dev/null.
        argv += ["--as-pid-1", "bash", "-c", _PID1, "bash", command]
        return argv

    def _nproc_limit(self) -> int:
        n = self.limits.max_processes
        if self.uid is None:  # the kernel also counts everything else this user runs
            n += _count_processes_of(os.geteuid())
        return n

    def _preexec(self) -> None:  # only without prlimit(1)
        lim = self.limits
        resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_seconds, lim.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (lim.memory_mb << 20,) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (self._nproc_limit(),) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.max_file_mb << 20,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

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

    # ------------------------------------------------------------------ the verifier

    def _verifier_snapshot(self) -> Snapshot:
        logs = self.root / ROOTS[LOGS_DIR]
        return {**host_snapshot(self.root / ROOTS[TESTS_DIR], TESTS_DIR),
                **host_snapshot(logs, LOGS_DIR, recursive=False),
                **host_snapshot(logs / "verifier", VERIFIER_DIR)}

    def _fresh_dir(self, host: Path) -> None:
        """Replace whatever is at host path `host` (a tree, a link, a FIFO) by an empty directory."""
        if os.path.isdir(host) and not os.path.islink(host):
            _rmtree(host)
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

    def _missing_cwd(self, cwd: str) -> bool:
        """True when cwd is inside a sandbox root and does not exist (the agent's doing)."""
        try:
            host = self._resolve(cwd)
        except SandboxPathError:
            return False  # a system path such as / or /usr: bwrap checks it
        except OSError:
            return True
        return not host.is_dir()

    def _run(self, command: str, timeout_s: float, cwd: str, env: dict[str, str],
             read_only: tuple[str, ...] = ()) -> ExecResult:
        lim = self.limits
        out = _Output(lim.max_output_bytes)
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
        disk_limit = self._disk_limit
        start_usage = _disk_usage(self.root) if disk_limit is not None else 0
        next_disk = start + _DISK_CHECK_S
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
                wait = deadline - now
                if disk_limit is not None:
                    wait = min(wait, max(0.0, next_disk - now))
                for key, _ in sel.select(wait):
                    chunk = os.read(key.fd, _READ_CHUNK)
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
                if disk_limit is not None and time.monotonic() >= next_disk:
                    t0 = time.monotonic()
                    usage = _disk_usage(self.root, stop_above=disk_limit)
                    took = time.monotonic() - t0
                    next_disk = time.monotonic() + max(_DISK_CHECK_S, 5 * took)
                    if usage > disk_limit and usage > start_usage + (1 << 20):
                        reason = "disk"
                        break
            if reason is None:
                waited = self._wait(proc, deadline)
                if waited is None:
                    reason = "timeout"
                elif self._closed and "exit-code" not in status:
                    reason = "closed"  # close() from another thread stopped it
            if reason is not None:
                if "pid-namespace" in status:
                    n_procs = len(_pid_ns_members(f"pid:[{status['pid-namespace']}]"))
                self._kill(proc, self._current_init)
                waited = self._wait(proc, None)
            assert waited is not None
            rc, rusage = waited
        finally:
            sel.close()
            os.close(status_r)
            proc.stdout.close()
            if proc.returncode is None:  # an exception on our side: leave nothing running
                self._kill(proc, self._current_init)
                self._wait(proc, None)
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
            forked_out = n_procs >= max(1, lim.max_processes - 8) or out.contains(_FORK_MARKERS)
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

    @staticmethod
    def _wait(proc: subprocess.Popen, deadline: float | None) -> tuple[int, Any] | None:
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

    @staticmethod
    def _kill(proc: subprocess.Popen, init_pid: int | None) -> None:
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

    @staticmethod
    def _reap_namespace(ns_link: str) -> None:
        """Wait until no process of the pid namespace is left (SIGKILLing stragglers)."""
        end = time.monotonic() + _KILL_WAIT_S
        while True:
            members = _pid_ns_members(ns_link)
            if not members or time.monotonic() > end:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)


LocalSandboxBackend.sandbox_class = LocalSandbox
