"""A command's output as both sandbox backends keep it, and what it says about how the command stopped.

Output: stdout and stderr arrive as one stream, in chunks; the first and last `cap / 2` bytes are
kept (with a `[... N bytes truncated ...]` line in between) and the rest is only counted, so a
100 MB line costs no more memory than the cap. `exit_cause` reads the exit code and that output
the same way for every backend.
"""

from __future__ import annotations

import signal

MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc",
                  b"out of memory", b"memory exhausted", b"failed to allocate")
"""What programs print when an allocation fails (RLIMIT_AS makes it fail rather than sending a signal)."""
FORK_MARKERS = (b"fork: retry: Resource temporarily unavailable",
                b"fork: Resource temporarily unavailable", b"can't fork")
"""What bash prints when the process cap is hit."""
CRASH_SIGNALS = {signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS,
                 signal.SIGILL, signal.SIGFPE, signal.SIGTERM, signal.SIGSYS}


class Output:
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


def exit_cause(exit_code: int, out: Output, *, cpu_spent: bool = False) -> str | None:
    """Why a finished command stopped, from its exit code and output: 'cpu', 'file_size', 'memory',
    'processes', 'signal N', or None (it ended by itself). Shared by every backend."""
    sig = exit_code - 128 if 128 < exit_code < 128 + 32 else 0
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_spent):
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    if exit_code != 0 and out.contains(MEMORY_MARKERS):
        return "memory"
    if out.contains(FORK_MARKERS):
        return "processes"
    if sig in CRASH_SIGNALS:
        return f"signal {sig}"
    return None
