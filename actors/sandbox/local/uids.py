"""Host uids for sandboxes when the harness runs as root: the kernel does not enforce RLIMIT_NPROC
for uid 0, so each sandbox runs bwrap as an unused host uid of its own, and no two sandboxes, even
in different processes, may share one (see actors/sandbox/local/__init__.py)."""

from __future__ import annotations

import fcntl
import os
import random
from pathlib import Path

from harnesses.sandbox import SandboxError


class UidLease:
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
