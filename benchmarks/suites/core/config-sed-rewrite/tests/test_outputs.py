"""Checks the edited config and its backup against hand-written expected files."""
from pathlib import Path

conf = Path("/app/config/app.conf")
orig = Path("/app/config/app.conf.orig")
assert orig.is_file(), "/app/config/app.conf.orig is missing"
assert orig.read_text() == Path("/tests/original.conf").read_text(), "the backup is not the original file"
assert conf.is_file(), "/app/config/app.conf is missing"
got = conf.read_text().rstrip("\n").splitlines()
want = Path("/tests/expected.conf").read_text().rstrip("\n").splitlines()
assert len(got) == len(want), f"line count {len(got)} != {len(want)}"
for i, (g, w) in enumerate(zip(got, want), 1):
    assert g.rstrip() == w, f"line {i}: got {g!r}, expected {w!r}"
print("ok")
