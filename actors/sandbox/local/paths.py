"""Sandbox paths on the host: the host side reads and writes a sandbox's files while no command runs,
and must see them as the sandbox would, so a link the agent made to `/etc/shadow` or `../../..` is
refused instead of being followed on the host as root."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from actors.sandbox.local.hostdir import own

ROOTS: dict[str, str] = {
    "/app": "app",
    "/tests": "tests",
    "/logs": "logs",
    "/solution": "solution",
    "/tmp": "tmp",
    "/root": "home",
}
"""Sandbox path -> directory under the sandbox's host directory."""


class SandboxPathError(ValueError):
    """A sandbox path outside the sandbox's roots, or one that tries to escape them."""


def split_path(path: str) -> list[str]:
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


def resolve_path(root: Path, path: str, *, uid: int | None, follow_final: bool = True,
                 create_dirs: bool = False) -> Path:
    """The host path of sandbox `path` in the sandbox at host directory `root`, following symlinks
    as the sandbox would.

    Symlinks are resolved against the sandbox's roots, never against the host; a link
    that leads outside them raises SandboxPathError. The last component need not
    exist; a missing directory before it raises FileNotFoundError unless create_dirs
    (then it is made, owned by `uid`).
    """
    parts = split_path(path)
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
        host = root / ROOTS[virt[0]] / Path(*virt[1:], comp)
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
            own(host, uid)
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
    return root / ROOTS[virt[0]] / Path(*virt[1:])
