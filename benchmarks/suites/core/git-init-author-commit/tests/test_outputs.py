"""Inspects /app/project with git: one commit, right identity, message, files, clean tree."""
import subprocess
from pathlib import Path

REPO = "/app/project"
assert Path(REPO, ".git").is_dir(), "/app/project is not a git repository"


def git(*args):
    r = subprocess.run(["git", "-c", "safe.directory=*", "-C", REPO, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"git {' '.join(args)} failed: {r.stderr}"
    return r.stdout


assert git("symbolic-ref", "--short", "HEAD").strip() == "main", "the branch is not main"
assert git("rev-list", "--count", "HEAD").strip() == "1", "there must be exactly one commit"
fields = git("log", "-1", "--format=%an%n%ae%n%cn%n%ce%n%B").split("\n")
assert fields[:4] == ["Ada Lovelace", "ada@example.com", "Ada Lovelace", "ada@example.com"], fields[:4]
assert "\n".join(fields[4:]).strip() == "Initial import of tidewatch", fields[4:]
files = sorted(git("ls-tree", "-r", "--name-only", "HEAD").split())
assert files == [".gitignore", "README.md", "docs/usage.md", "src/tidewatch.py"], files
assert git("status", "--porcelain").strip() == "", "working tree is not clean"
blob = git("show", "HEAD:src/tidewatch.py")
assert blob == Path(REPO, "src/tidewatch.py").read_text()
print("ok")
