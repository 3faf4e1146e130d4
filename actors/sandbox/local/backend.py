"""The backend that makes local sandboxes: it picks the sandbox's uid, directory and Python, and
checks that a new sandbox starts before anyone uses it."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from actors.sandbox.local.bwrap import BASE_ENV, bwrap_path
from actors.sandbox.local.hostdir import check_reachable, cleanup
from actors.sandbox.local.sandbox import LocalSandbox
from actors.sandbox.local.uids import UidLease
from harnesses.sandbox import Limits, SandboxError

PROJECT_DIR = Path(__file__).resolve().parents[3]
"""The repository; never visible inside a sandbox."""


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


class LocalSandboxBackend:
    """Makes bubblewrap sandboxes on this machine (see actors/sandbox/local/__init__.py)."""

    sandbox_class: type[LocalSandbox] = LocalSandbox
    """A test double's pods use a subclass."""

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
        bwrap = bwrap_path()
        extra = self._python_binds()
        path_env = BASE_ENV["PATH"]
        if extra:
            path_env += f":{extra[1]}/bin"
        lease = UidLease(self.uid_first, self.uid_count, self.uid_lock_dir) if os.geteuid() == 0 else None
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
                cleanup(root, lease)
            elif lease is not None:
                lease.release()
            raise
        try:
            if lease is not None:
                check_reachable(root, lease.uid)
            sandbox._setup(task)
        except BaseException:
            sandbox.close()
            raise
        return sandbox
