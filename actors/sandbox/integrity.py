"""What every backend shares to give the verifier a context the agent cannot forge.

The agent's commands and the harness's hooks run before the verifier, in the same sandbox. So
the verifier's own places, `/tests` and `/logs/verifier`, are looked at right before it runs
and compared with what they held when the sandbox opened: whatever the agent planted, changed
or removed there is `Tampering` (path, what changed), recorded in the trace; an episode with
any never counts as a pass. Then the backend replaces both with fresh ones (only the task's
tests, an empty log directory) and checks that the reset held.

A snapshot maps a sandbox path to an `Entry` (kind, mode, size, a digest of the first bytes,
a link's target) and never follows a link. Backends make one from the host's view of the
sandbox (`host_snapshot`, local) or from a `tar -c` streamed out of a container
(`tar_snapshot`, kubernetes, docker); `diff` and `unexpected` are the same for all.

`names_verifier` is the proposer's first line: an edit whose text names these places is
refused before it runs. It is only a first line (text can be obfuscated); the snapshots are
the guarantee.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import tarfile
from pathlib import Path

import msgspec

from harnesses.sandbox import REWARD_FILES, TESTS_DIR, VERIFIER_DIR, Sandbox
from harnesses.trace import Tampering

DIGEST_BYTES = 4 << 20
"""Content digests cover a file's first 4 MiB (and its size): enough to see a change, bounded in cost."""
MAX_ENTRIES = 5000
"""A snapshot stops here and records an overflow: an agent cannot make the check itself slow."""
MAX_RECORDS = 50
"""At most this many tampering records per episode (then one saying how many more)."""
IGNORED_AFTER = (".pytest_cache",)
"""Names the verifier itself writes under /tests (pytest's cache), ignored when /tests is compared
after the verifier ran."""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    """file, dir, symlink, fifo, socket, device, hardlink, other, overflow."""
    mode: int = 0
    size: int = 0
    digest: str = ""
    target: str = ""

    def describe(self) -> str:
        if self.kind == "file":
            return f"file of {self.size} bytes, mode {self.mode:o}"
        if self.kind in ("symlink", "hardlink"):
            return f"{self.kind} to {self.target}"
        if self.kind == "dir":
            return f"directory, mode {self.mode:o}"
        return self.kind


Snapshot = dict[str, Entry]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return _digest(f.read(DIGEST_BYTES))
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
                       (stat.S_ISBLK, "device")):
        if test(mode):
            return name
    return "other"


def host_snapshot(host: Path, virt: str, *, recursive: bool = True) -> Snapshot:
    """Entries at and below host path `host`, named as the sandbox sees them (`virt`); no link is
    followed. `recursive=False`: the entry itself only."""
    snap: Snapshot = {}
    stack = [(host, virt)]
    while stack:
        path, name = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if len(snap) >= MAX_ENTRIES:
            snap[f"{virt}/..."] = Entry(kind="overflow")
            break
        kind = _kind(st.st_mode)
        digest, target = "", ""
        if kind == "file":
            try:
                digest = _file_digest(path)
            except OSError:
                digest = "unreadable"
        elif kind == "symlink":
            target = os.readlink(path)
        snap[name] = Entry(kind=kind, mode=stat.S_IMODE(st.st_mode), size=st.st_size if kind == "file" else 0,
                           digest=digest, target=target)
        if kind == "dir" and recursive:
            try:
                stack.extend((path / c, f"{name}/{c}") for c in sorted(os.listdir(path), reverse=True))
            except OSError:
                pass
    return snap


def _top(path: str) -> str:
    return VERIFIER_DIR if path.startswith(VERIFIER_DIR) else TESTS_DIR


def tar_snapshot(blob: bytes, tops: dict[str, str]) -> Snapshot:
    """Entries of a `tar -c` made at `/` (member names relative to it), plus `tops`: what the
    container's shell saw at the top-level paths ("dir", "symlink TARGET", "missing", "other",
    "mode 755" for /logs, whose contents are not the verifier's)."""
    snap: Snapshot = {}
    for path, seen in tops.items():
        kind, _, rest = seen.partition(" ")
        if kind == "mode":
            snap[path] = Entry(kind="dir", mode=int(rest, 8))
        elif kind == "symlink":
            snap[path] = Entry(kind="symlink", target=rest)
        elif kind not in ("missing", "dir"):
            snap[path] = Entry(kind=kind)
    name = ""
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
            for info in tar:
                name = "/" + info.name.strip("/")
                if len(snap) >= MAX_ENTRIES:
                    snap[f"{_top(name)}/..."] = Entry(kind="overflow")
                    break
                mode = info.mode & 0o7777
                if info.isfile():
                    f = tar.extractfile(info)
                    data = f.read(DIGEST_BYTES) if f is not None else b""
                    snap[name] = Entry(kind="file", mode=mode, size=info.size, digest=_digest(data))
                elif info.isdir():
                    snap[name] = Entry(kind="dir", mode=mode)
                elif info.issym():
                    snap[name] = Entry(kind="symlink", target=info.linkname)
                elif info.islnk():
                    snap[name] = Entry(kind="hardlink", target="/" + info.linkname.strip("/"))
                elif info.isfifo():
                    snap[name] = Entry(kind="fifo", mode=mode)
                elif info.isdev():
                    snap[name] = Entry(kind="device", mode=mode)
                else:
                    snap[name] = Entry(kind="other")
    except (tarfile.TarError, EOFError):  # cut at the size cap: more than a snapshot may hold
        snap[f"{_top(name)}/..."] = Entry(kind="overflow")
    return snap


def expected_tests(tests_dir: Path) -> Snapshot:
    """What /tests and /logs/verifier hold right after a reset: the task's tests, an empty directory."""
    return {**host_snapshot(Path(tests_dir), TESTS_DIR), VERIFIER_DIR: Entry(kind="dir")}


def _same(a: Entry, b: Entry, *, modes: bool) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "file":
        return a.digest == b.digest and a.size == b.size and (not modes or a.mode == b.mode)
    if a.kind in ("symlink", "hardlink"):
        return a.target == b.target
    return not modes or a.mode == b.mode


def diff(before: Snapshot, after: Snapshot) -> list[Tampering]:
    """What changed between two snapshots of the same sandbox, as tampering records."""
    out: list[Tampering] = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a is None and b is not None:
            out.append(Tampering(path=path, change="planted", detail=b.describe()))
        elif b is None and a is not None:
            out.append(Tampering(path=path, change="removed", detail=a.describe()))
        elif a is not None and b is not None and not _same(a, b, modes=True):
            out.append(Tampering(path=path, change="changed", detail=f"{a.describe()} -> {b.describe()}"))
    return cap(out)


def unexpected(expected: Snapshot, found: Snapshot, *, change: str, ignore: tuple[str, ...] = ()) -> list[Tampering]:
    """Entries of `found` that `expected` does not hold as they are (contents and kinds; modes are the
    backend's), e.g. what survived a reset."""
    out: list[Tampering] = []
    for path in sorted(set(expected) | set(found)):
        if any(f"/{name}" in path for name in ignore):
            continue
        a, b = expected.get(path), found.get(path)
        if b is None:
            out.append(Tampering(path=path, change=change, detail=f"missing after the reset ({a.describe()})"))
        elif a is None or not _same(a, b, modes=False):
            out.append(Tampering(path=path, change=change, detail=b.describe()))
    return cap(out)


def under(snap: Snapshot, *tops: str) -> Snapshot:
    """The entries at or below any of `tops`."""
    return {p: e for p, e in snap.items() if any(p == t or p.startswith(t + "/") for t in tops)}


def read_rewards(sandbox: Sandbox) -> dict[str, bytes]:
    """The reward files in /logs/verifier that are regular files (a missing one, a directory or a link
    out of the sandbox is simply not a reward)."""
    rewards = {}
    for name in REWARD_FILES:
        try:
            rewards[name] = sandbox.read_file(f"{VERIFIER_DIR}/{name}")
        except (OSError, ValueError):
            pass
    return rewards


def cap(records: list[Tampering]) -> list[Tampering]:
    if len(records) <= MAX_RECORDS:
        return records
    more = len(records) - MAX_RECORDS
    return records[:MAX_RECORDS] + [Tampering(path="...", change="more", detail=f"{more} more records")]


_VERIFIER_TEXT = re.compile(r"(?<![\w./~-])/(?:tests|logs)(?![\w.-])|reward\.(?:txt|json)\b", re.IGNORECASE)


def names_verifier(text: str) -> list[str]:
    """The verifier's places (/tests, /logs, /logs/verifier, reward.txt or reward.json) that `text`
    names; `/app/tests` and `tests/` in a project are not them."""
    return sorted({m.group(0).lower() for m in _VERIFIER_TEXT.finditer(text or "")})
