"""A sandbox's directory on the host: the files are all that survives between commands, so the
directory is made with the sandbox's layout and owner, must be reachable by the uid bwrap runs as,
and must go away whatever the agent did to its permissions."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

from actors.sandbox.local.uids import UidLease
from harnesses.sandbox import SandboxError

LAYOUT = ("app", "tests", "logs", "logs/verifier", "solution", "tmp", "home")
"""The directories under a sandbox's host directory (see paths.ROOTS for where the sandbox sees them)."""


def make_layout(root: Path, uid: int | None) -> None:
    """The sandbox's directories under `root`, `tmp` world-writable, all owned by `uid` when given."""
    for d in LAYOUT:
        (root / d).mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    if uid is not None:
        for p in [root, *(root / d for d in LAYOUT)]:
            os.chown(p, uid, uid)


def own(host_path: Path, uid: int | None) -> None:
    """Give a path the host made inside the sandbox to the sandbox's uid (nothing when there is none)."""
    if uid is not None:
        os.chown(host_path, uid, uid, follow_symlinks=False)


def check_reachable(root: Path, uid: int) -> None:
    """bwrap runs as `uid`: every directory above the sandbox must be searchable by it."""
    for parent in root.parents:
        st = parent.stat()
        if not st.st_mode & stat.S_IXOTH and st.st_uid != uid:
            raise SandboxError(
                f"the sandbox runs as host uid {uid}, which cannot reach {root}: {parent} is not "
                f"searchable by other users (mode {stat.filemode(st.st_mode)}); use a base_dir "
                f"such as {tempfile.gettempdir()}")


def rmtree(path: Path) -> None:
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


def cleanup(root: Path, lease: UidLease | None) -> None:
    """Remove the sandbox's directory, then release its uid."""
    try:
        rmtree(root)
    finally:
        if lease is not None:
            lease.release()
