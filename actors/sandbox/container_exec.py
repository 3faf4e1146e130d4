"""What runs inside a container for a sandbox whose only way in is an exec (kubernetes, docker): the
agent command's script, the file scripts, their exit codes, and the tars that carry files.

Every agent command goes as a script on stdin (so its length never meets an argv or URL limit), read
with `head -c N` by a fixed bootstrap and run as `timeout -k K T bash -c COMMAND </dev/null 2>&1` in the
task's directory, with the command's CPU-time and file-size limits applied by `ulimit`. `timeout`
inside the container is what really stops a command (closing a stream does not kill a process in a
container), and what the command left running in its process group is killed when it ends, as the
local backend's pid namespace does. stdout and stderr are one stream, in order.

Files go in and out as tar: `head -c N | tar -x` in, `tar -c` out, inside the container (never
through the host's view of its filesystem, where an agent's symlink could point a copy at the host).
The images need `bash`, `head`, `tar` and `timeout` (coreutils); the backends probe for them at start.
"""

from __future__ import annotations

import io
import posixpath
import shlex
import tarfile
import time
from pathlib import Path
from typing import Protocol

from harnesses.sandbox import Limits, SandboxError

KILL_AFTER_S = 2
"""`timeout -k`: a command that ignores SIGTERM gets SIGKILL this much later."""
TIMEOUT_EXIT = 124
BOOT_FAILED_EXIT = 125
"""The bootstrap's own code when the script did not arrive whole (with a message on stderr)."""

# The fixed command line of every agent command: read the script (exactly $1 bytes) from stdin and
# run it. The script is one function definition, so a script cut short is a syntax error, never a
# partial command.
_BOOT = ('s=$(head -c "$1"; printf x); s=${s%x}; eval "$s" 2>/dev/null; '
         'if ! declare -F __selfharness >/dev/null; then '
         'echo "selfharness: the command script did not arrive whole" >&2; exit 125; fi; __selfharness')

READ_MISSING, READ_ISDIR, READ_NOTFILE, READ_TOOBIG, READ_DENIED, WRITE_NODIR = 44, 45, 46, 47, 48, 49
_READ = """p=$1
[ -e "$p" ] || { echo "no such file: $p" >&2; exit 44; }
[ -d "$p" ] && { echo "is a directory: $p" >&2; exit 45; }
[ -f "$p" ] || { echo "not a regular file: $p" >&2; exit 46; }
[ -r "$p" ] || { echo "permission denied: $p" >&2; exit 48; }
n=$(wc -c < "$p") && n=$((n)) && [ "$n" -le "$2" ] || { echo "too large: $n bytes (limit $2)" >&2; exit 47; }
cd -- "$(dirname -- "$p")" && exec tar -chf - -- "$(basename -- "$p")"
"""
_WRITE = """[ -n "$3" ] && [ -d "$1/$3" ] && { echo "is a directory: $1/$3" >&2; exit 45; }
mkdir -p -- "$1" 2>/dev/null; cd -- "$1" 2>/dev/null || { echo "cannot make directory $1" >&2; exit 49; }
head -c "$2" | tar -xof -
"""
"""Extract $2 bytes of tar from stdin into directory $1 (`-o`: files belong to whoever extracts,
in GNU and busybox tar alike); $3, when given, is the one file that must not be a directory."""
PROBE = ('for t in bash head tar timeout; do command -v "$t" >/dev/null 2>&1 || printf "%s " "$t"; done; '
         '[ -d "$1" ] || printf "workdir:%s" "$1"')
"""Prints what the image lacks (tools, or the working directory); nothing when all is there."""


class ExecFailure(SandboxError):
    """The exec stream failed. `started`: the command may have run (never re-run an agent
    command then); `retryable`: trying again can help."""

    def __init__(self, message: str, *, started: bool, retryable: bool = True):
        super().__init__(message)
        self.started, self.retryable = started, retryable


class Sink(Protocol):
    def add(self, chunk: bytes) -> None: ...


class Bounded:
    """Keeps every byte, up to a cap (file reads)."""

    def __init__(self, cap: int):
        self.cap, self.data = cap, bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.cap:
            raise ExecFailure(f"more than {self.cap} bytes came back", started=True, retryable=False)


class ExecOutcome:
    def __init__(self, exit_code: int, stderr: bytes, duration_s: float):
        self.exit_code, self.stderr, self.duration_s = exit_code, stderr, duration_s


# --------------------------------------------------------------------------- scripts


OOM_NOTE = "selfharness: killed: out of memory (the sandbox's memory limit)"
"""What a command killed by its container's memory cgroup prints (exit_cause reads it as 'memory')."""
_OOM_KILLS = ('__oom_kills() { { sed -n "s/^oom_kill //p" /sys/fs/cgroup/memory.events '
              '/sys/fs/cgroup/memory/memory.oom_control; } 2>/dev/null | head -n 1; }')
"""The container's OOM-kill counter (cgroup v2, else v1; empty where neither is visible): a SIGKILLed
command was the memory limit's doing only if the counter moved while it ran."""


def command_script(command: str, *, cwd: str, env: dict[str, str], timeout_s: float, limits: Limits) -> bytes:
    """The script an agent command runs as (see the module doc)."""
    q = shlex.quote
    body = [
        f"cd -- {q(cwd)} 2>/dev/null || {{ echo {q(f'bash: cd: {cwd}: No such file or directory')}; return 1; }}",
        # soft below hard: the kernel sends SIGXCPU at the soft limit (read as 'cpu'), SIGKILL only a second later
        f"ulimit -c 0 2>/dev/null; ulimit -H -t {int(limits.cpu_seconds) + 1} 2>/dev/null; "
        f"ulimit -S -t {int(limits.cpu_seconds)} 2>/dev/null",
        f"ulimit -f {int(limits.max_file_mb) * 1024} 2>/dev/null",
        'export TERM="${TERM:-dumb}"',
    ]
    body += [f"export {k}={q(str(v))}" for k, v in env.items()]
    secs = max(1, int(-(-timeout_s // 1)))
    body += [
        _OOM_KILLS, "o0=$(__oom_kills)",
        f"timeout -k {KILL_AFTER_S} {secs} bash -c {q(command)} </dev/null 2>&1 &",
        'pid=$!; wait "$pid"; rc=$?',
        'kill -KILL -- -"$pid" 2>/dev/null',  # what it left behind in its process group
        f'[ "$rc" = 137 ] && [ -n "$o0" ] && [ "$(__oom_kills)" != "$o0" ] && echo {q(OOM_NOTE)}',
        'return "$rc"',
    ]
    return ("__selfharness() {\n" + "\n".join(body) + "\n}\n").encode()


def command_argv(script: bytes) -> list[str]:
    return ["bash", "-c", _BOOT, "selfharness", str(len(script))]


def read_argv(path: str, max_bytes: int) -> list[str]:
    return ["sh", "-c", _READ, "sh", path, str(max_bytes)]


def write_argv(directory: str, size: int, file_name: str = "") -> list[str]:
    return ["sh", "-c", _WRITE, "sh", directory, str(size), file_name]


def probe_argv(workdir: str) -> list[str]:
    return ["sh", "-c", PROBE, "sh", workdir]


# --------------------------------------------------------------------------- tar


def tar_file(name: str, data: bytes, mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_dir(local_dir: Path) -> bytes:
    """The contents of local_dir (not the directory itself), modes kept, owners dropped."""
    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode |= 0o600 if info.isfile() else 0o700
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(str(path), arcname=path.relative_to(local_dir).as_posix(), recursive=False, filter=reset)
    return buf.getvalue()


def untar_one(blob: bytes, name: str) -> bytes:
    """The bytes of the one regular file a `tar -c` of `name` holds."""
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            for info in tar:
                if info.isfile() and posixpath.basename(info.name.rstrip("/")) == name:
                    f = tar.extractfile(info)
                    return f.read() if f is not None else b""
    except tarfile.TarError as e:
        raise ExecFailure(f"read_file: the tar stream is broken: {e}", started=True) from None
    raise ExecFailure(f"read_file: the tar stream holds no file {name!r}", started=True)
