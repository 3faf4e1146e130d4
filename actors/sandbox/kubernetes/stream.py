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

What runs in the pod (the command's script, the file scripts, the tars) is actors/sandbox/container_exec.py,
shared with the docker backend.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from actors.sandbox.container_exec import ExecFailure, ExecOutcome, Sink

STDOUT, STDERR, ERROR = 1, 2, 3
STDIN_CHUNK = 256 * 1024


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
