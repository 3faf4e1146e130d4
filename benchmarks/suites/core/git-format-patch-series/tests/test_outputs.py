"""Applies the patch series and the combined diff in scratch clones of the bundle."""
import glob
import os
import subprocess
import tempfile
from pathlib import Path

MERGE_BASE = "fa1d48afe757f9419c608207c6c1689d341cd21a"
FEATURE = "d6c7a130ae3331effe20ea68081881335f75ae7c"
MAIN = "d40bf2bcf353efc5ccbf0ae97915409359ae29d7"


def git(repo, *args, check=True):
    r = subprocess.run(["git", "-c", "safe.directory=*", "-c", "user.name=Test", "-c", "user.email=t@example.com",
                        "-C", repo, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, f"git {' '.join(args)} failed: {r.stdout}{r.stderr}"
    return r


assert Path("/app/repo/.git").is_dir(), "/app/repo is not a clone"
patches = sorted(glob.glob("/app/patches/*.patch"))
assert [os.path.basename(p)[:5] for p in patches] == ["0001-", "0002-", "0003-"], f"patches: {patches}"

with tempfile.TemporaryDirectory() as d:
    a = os.path.join(d, "a")
    subprocess.run(["git", "clone", "-q", "/app/work.bundle", a], check=True, timeout=60)
    assert git(a, "rev-parse", "HEAD").stdout.strip() == MAIN
    git(a, "am", *patches)
    log = git(a, "log", "-3", "--reverse", "--format=%an <%ae>|%s").stdout.splitlines()
    want = git(a, "log", "--reverse", "--format=%an <%ae>|%s", f"{MERGE_BASE}..{FEATURE}").stdout.splitlines()
    assert log == want, f"applied commits {log}, expected {want}"
    assert git(a, "rev-parse", "HEAD~3").stdout.strip() == MAIN
    for path in ("src/app.py", "src/export.py", "README.md"):
        assert git(a, "show", f"HEAD:{path}").stdout == git(a, "show", f"{FEATURE}:{path}").stdout, f"{path} differs after git am"

    diff = Path("/app/feature.diff")
    assert diff.is_file(), "/app/feature.diff is missing"
    b = os.path.join(d, "b")
    subprocess.run(["git", "clone", "-q", "/app/work.bundle", b], check=True, timeout=60)
    git(b, "checkout", "-q", MERGE_BASE)
    r = git(b, "apply", str(diff), check=False)
    assert r.returncode == 0, f"/app/feature.diff does not apply on the merge base: {r.stderr}"
    git(b, "add", "-A")
    assert git(b, "diff", "--cached", "--quiet", FEATURE, check=False).returncode == 0, \
        "applying /app/feature.diff on the merge base does not give feature's tree"

    stat = Path("/app/feature.stat")
    assert stat.is_file(), "/app/feature.stat is missing"
    want_stat = git(b, "diff", "--stat", MERGE_BASE, FEATURE).stdout
    assert stat.read_text().rstrip() == want_stat.rstrip(), f"got:\n{stat.read_text()}\nexpected:\n{want_stat}"
print("ok")
