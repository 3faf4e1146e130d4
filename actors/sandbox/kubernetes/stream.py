"""Commands and files through the pod exec API (the `v4.channel.k8s.io` / `v5` websocket),
with deadlines that hold even when the stream hangs.

How one exec runs (`exec_stream`):

- The official client's `stream(connect_get_namespaced_pod_exec, ..., _preload_content=False,
  binary=True)` opens the websocket. Its handshake has no timeout of its own (websocket-client
  connects with a blocking socket), so it runs in a helper thread and is abandoned, its socket
  closed whenever it returns, after `connect_timeout_s`.
- Then our own loop: `update(timeout=...)` until the server closes the stream or the deadline
  passes; the socket also gets a timeout, so a frame cut in half cannot block a read. On the
  deadline the websocket is closed: a hung stream costs its deadline and never the episode.
- The exit code is the Status JSON on channel 3 (`Success`, or `NonZeroExitCode` with the code
  in `details.causes`), read by us rather than by `WSClient.returncode`, which crashes on a
  stream that closed without one. No status means the stream broke: `ExecFailure`.

What runs in the pod: every agent command goes as a script on stdin (so its length never
meets a URL limit), read with `head -c N` by a fixed bootstrap and run as
`timeout -k K T bash -c COMMAND </dev/null 2>&1` in the task's directory, with the command's
CPU-time and file-size limits applied by `ulimit`. `timeout` inside the pod is what really stops
a command (closing a websocket does not kill a process in a container), and what the command
left running in its process group is killed when it ends, as the local backend's pid namespace
does. stdout and stderr are one stream, in order, as in the local backend.

Files go in and out as tar through the same stream: `head -c N | tar -x` in, `tar -c` out.
The images need `bash`, `head`, `tar` and `timeout` (coreutils); the backend checks at start.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import shlex
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from harnesses.sandbox import Limits, SandboxError

STDOUT, STDERR, ERROR = 1, 2, 3
STDIN_CHUNK = 256 * 1024

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


def parse_status(raw: bytes) -> int:
    """The exit code from the channel-3 Status; ExecFailure when the exec itself failed."""
    if not raw.strip():
        raise ExecFailure("the exec stream closed without an exit status (connection lost)", started=True)
    try:
        status = json.loads(raw)
    except ValueError:
        raise ExecFailure(f"unreadable exec status: {raw[:200]!r}", started=True) from None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    message = status.get("message") or status.get("reason") or "unknown failure"
    # e.g. the container runtime could not start the process: it never ran
    not_started = bool(re.search(r"executable file not found|no such file|container not found|not running",
                                 message, re.IGNORECASE))
    raise ExecFailure(f"exec failed: {message}", started=not not_started)


def _classify_open_error(error: Exception) -> ExecFailure:
    text = f"{getattr(error, 'reason', '') or error}"
    m = re.search(r"Handshake status (\d{3})", text)
    if m:
        code = int(m.group(1))
        retryable = code in (429, 500, 502, 503, 504)
        return ExecFailure(f"exec refused: HTTP {code}: {text.splitlines()[0][:300]}", started=False,
                           retryable=retryable)
    if re.search(r"refused|Errno 111|Name or service not known|unreachable", text, re.IGNORECASE):
        return ExecFailure(f"exec: cannot connect: {text[:300]}", started=False)
    return ExecFailure(f"exec: the websocket failed to open: {text[:300]}", started=True)


def _open_stream(api: Any, namespace: str, pod: str, container: str, argv: list[str], stdin: bool,
                 timeout_s: float) -> Any:
    """Open the exec websocket in a helper thread; give up after timeout_s (see module doc)."""
    from kubernetes.stream import stream

    box: dict[str, Any] = {}
    abandoned = threading.Event()

    def opener() -> None:
        try:
            ws = stream(api.connect_get_namespaced_pod_exec, pod, namespace, command=argv, container=container,
                        stdin=stdin, stdout=True, stderr=True, tty=False, _preload_content=False, binary=True)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = e
            return
        box["ws"] = ws
        if abandoned.is_set():
            _close(ws)

    thread = threading.Thread(target=opener, name=f"exec-open-{pod}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        abandoned.set()
        if "ws" in box:  # it got there in the meantime
            _close(box["ws"])
        raise ExecFailure(f"exec: no websocket handshake within {timeout_s:.0f}s", started=True)
    if "error" in box:
        raise _classify_open_error(box["error"])
    return box["ws"]


def _close(ws: Any) -> None:
    try:
        ws.close()
    except Exception:  # noqa: BLE001 - closing a broken socket
        pass


def _drain(ws: Any) -> tuple[bytes, bytes, bytes]:
    """Take what `update()` buffered: (stdout, stderr, status). WSClient's buffers are read
    directly: its read_channel() may itself read more frames, and read_all() then drops them
    all, the status included, so the two cannot be combined safely."""
    channels = ws._channels
    out, err, status = (channels.pop(c, b"") for c in (STDOUT, STDERR, ERROR))
    ws._all = type(ws._all)()  # its copy of stdout and stderr would grow without bound
    return out, err, status


def exec_stream(api: Any, namespace: str, pod: str, container: str, argv: list[str], *, sink: Sink,
                stdin: bytes | None = None, timeout_s: float, connect_timeout_s: float) -> ExecOutcome:
    """Run argv in the pod; stdout (channel 1) goes to `sink`, stderr is returned. Raises
    ExecFailure when the stream breaks, hangs past `timeout_s`, or reports no exit code."""
    start = time.monotonic()
    deadline = start + timeout_s
    ws = _open_stream(api, namespace, pod, container, argv, stdin is not None,
                      max(0.1, min(connect_timeout_s, timeout_s)))
    from websocket import WebSocketException

    err, status = bytearray(), bytearray()
    try:
        if stdin is not None:
            for i in range(0, len(stdin), STDIN_CHUNK):
                ws.sock.settimeout(max(0.1, deadline - time.monotonic()))
                ws.write_stdin(stdin[i:i + STDIN_CHUNK])
        while ws.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExecFailure(f"exec stream hung: no exit status within {timeout_s:.0f}s", started=True,
                                  retryable=True)
            ws.sock.settimeout(max(0.1, left))
            ws.update(timeout=min(left, 1.0))
            out, e, st = _drain(ws)
            err += e
            status += st
            if out:
                sink.add(out)
    except ExecFailure:
        raise
    except (WebSocketException, OSError, ValueError) as e:
        raise ExecFailure(f"exec stream broke: {type(e).__name__}: {e}", started=True) from None
    finally:
        _close(ws)
    code = parse_status(bytes(status))
    return ExecOutcome(code, bytes(err), time.monotonic() - start)


# --------------------------------------------------------------------------- scripts


def command_script(command: str, *, cwd: str, env: dict[str, str], timeout_s: float, limits: Limits) -> bytes:
    """The script an agent command runs as (see the module doc)."""
    q = shlex.quote
    body = [
        f"cd -- {q(cwd)} 2>/dev/null || {{ echo {q(f'bash: cd: {cwd}: No such file or directory')}; return 1; }}",
        f"ulimit -c 0 2>/dev/null; ulimit -t {int(limits.cpu_seconds)} 2>/dev/null",
        f"ulimit -f {int(limits.max_file_mb) * 1024} 2>/dev/null",
        'export TERM="${TERM:-dumb}"',
    ]
    body += [f"export {k}={q(str(v))}" for k, v in env.items()]
    secs = max(1, int(-(-timeout_s // 1)))
    body += [
        f"timeout -k {KILL_AFTER_S} {secs} bash -c {q(command)} </dev/null 2>&1 &",
        'pid=$!; wait "$pid"; rc=$?',
        'kill -KILL -- -"$pid" 2>/dev/null',  # what it left behind in its process group
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
