"""Checks the /app/site tree: kinds, modes, contents, the relative symlink and the manifest."""
import os, stat
from pathlib import Path

S = Path("/app/site")
T = Path("/tests/templates")
want = {
    "": ("d", 0o755), "releases": ("d", 0o755), "releases/v1": ("d", 0o755), "releases/v2": ("d", 0o755),
    "releases/v1/index.html": ("f", 0o644), "releases/v2/index.html": ("f", 0o644),
    "current": ("l", None), "shared": ("d", 0o750), "shared/secrets.env": ("f", 0o600),
    "logs": ("d", 0o1777), "manifest.txt": ("f", 0o644),
}
assert S.is_dir(), "/app/site is missing"
found = {""} | {str(p.relative_to(S)) for p in S.rglob("*")}
assert found == set(want), f"unexpected entries: {sorted(found ^ set(want))}"
for rel, (kind, mode) in want.items():
    p = S / rel if rel else S
    st = os.lstat(p)
    got_kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
    assert got_kind == kind, f"{p}: is {got_kind}, expected {kind}"
    if mode is not None:
        assert stat.S_IMODE(st.st_mode) == mode, f"{p}: mode {oct(stat.S_IMODE(st.st_mode))}, expected {oct(mode)}"
assert os.readlink(S / "current") == "releases/v2", f"current -> {os.readlink(S / 'current')!r}"
assert (S / "current" / "index.html").read_text() == (T / "index-v2.html").read_text()
assert (S / "releases/v1/index.html").read_text() == (T / "index-v1.html").read_text()
assert (S / "shared/secrets.env").read_text() == (T / "secrets.env").read_text()

lines = []
for rel in sorted(r for r in want if r not in ("", "manifest.txt")):
    st = os.lstat(S / rel)
    kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
    lines.append(f"{stat.S_IMODE(st.st_mode):o} {kind} {rel}")
got = (S / "manifest.txt").read_text().strip().splitlines()
assert [" ".join(l.split()) for l in got] == lines, f"manifest.txt: got {got}, expected {lines}"
print("ok")
