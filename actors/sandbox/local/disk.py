"""The disk limit: the writable directories are host directories (they must outlive one bwrap process,
so bwrap's `--tmpfs --size` cannot hold them), so a watchdog measures the sandbox directory while a
command runs and stops the command once it has grown the sandbox beyond its limit."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

CHECK_S = 0.25
"""The least time between two measurements (more when measuring takes long)."""


def disk_usage(root: Path, stop_above: int | None = None) -> int:
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


class DiskWatch:
    """One command's watchdog: `limit` is the sandbox directory's most bytes (None: no watch); what the
    directory held when the command started is measured now, the first check is due CHECK_S after `start`."""

    def __init__(self, root: Path, limit: int | None, start: float):
        self.root, self.limit = root, limit
        self.start_usage = disk_usage(root) if limit is not None else 0
        self.next_check = start + CHECK_S

    def wait(self, wait: float, now: float) -> float:
        """`wait`, shortened so that the caller is back when the next check is due."""
        if self.limit is None:
            return wait
        return min(wait, max(0.0, self.next_check - now))

    def over(self) -> bool:
        """Measure if a check is due: True when the command has grown the directory beyond the limit
        (and by more than 1 MB since it started)."""
        if self.limit is None or time.monotonic() < self.next_check:
            return False
        t0 = time.monotonic()
        usage = disk_usage(self.root, stop_above=self.limit)
        took = time.monotonic() - t0
        self.next_check = time.monotonic() + max(CHECK_S, 5 * took)
        return usage > self.limit and usage > self.start_usage + (1 << 20)
