"""Checks the merge commit in /app/repo: parents, identity, message, resolved files, clean state."""
import subprocess
from pathlib import Path

REPO = "/app/repo"
MAIN_TIP = "26b276820a95616bf6768daba814f63b080a4812"
FEATURE_TIP = "3b68b00de2d3c71d777e2c9037e626c057fbff97"


def git(*args, check=True):
    r = subprocess.run(["git", "-c", "safe.directory=*", "-C", REPO, *args], capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"git {' '.join(args)} failed: {r.stderr}"
    return r


assert Path(REPO, ".git").is_dir(), "/app/repo is missing"
assert git("symbolic-ref", "--short", "HEAD").stdout.strip() == "main", "main is not checked out"
assert not Path(REPO, ".git/MERGE_HEAD").exists(), "the merge is still in progress"
head = git("rev-parse", "HEAD").stdout.strip()
parents = git("log", "-1", "--format=%P", "HEAD").stdout.split()
assert parents == [MAIN_TIP, FEATURE_TIP], f"HEAD parents are {parents}"
meta = git("log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%B", "HEAD").stdout.split("\n")
assert meta[0] == "Merge Bot <merge@example.com>", f"author: {meta[0]}"
assert meta[1] == "Merge Bot <merge@example.com>", f"committer: {meta[1]}"
assert "\n".join(meta[2:]).strip() == "Merge branch 'feature'", f"message: {meta[2:]}"

settings = ("[network]\nhost = harbor.local\ntimeout = 45\nretries = 5\n\n"
            "[logging]\nlevel = warning\nfile = /var/log/harbor.log\n")
changelog = ("# Changelog\n\n## Unreleased\n\n- Retry up to 5 times.\n- Longer network timeout (45 s).\n\n"
             "## 1.0.0\n\n- First release.\n")
committed = {
    "settings.ini": settings,
    "CHANGELOG.md": changelog,
    "docs/timeout.md": "The network timeout is 45 seconds.\n",
    "README.md": "# harbor-client\n\nSettings live in settings.ini.\n",
}
files = sorted(git("ls-tree", "-r", "--name-only", "HEAD").stdout.split())
assert files == sorted(committed), f"files in HEAD: {files}"
for name, text in committed.items():
    got = git("show", f"HEAD:{name}").stdout
    assert got.strip() == text.strip(), f"{name} in the merge commit:\n{got}"
assert git("status", "--porcelain").stdout.strip() == "", "working tree or index is not clean"

path = Path("/app/merge_sha.txt")
assert path.is_file(), "/app/merge_sha.txt is missing"
assert path.read_text().strip() == head, f"/app/merge_sha.txt is not HEAD ({head})"
print("ok")
