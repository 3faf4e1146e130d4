"""Checks the clone and the answers (values verified on the shipped bundle)."""
import subprocess
from pathlib import Path

MAIN_TIP = "f3d7557419b86ed3c87e184a04fa3e99cab7bfa3"
r = subprocess.run(["git", "-c", "safe.directory=*", "-C", "/app/repo", "rev-parse", "main", "HEAD"],
                   capture_output=True, text=True, timeout=30)
assert r.returncode == 0, f"/app/repo is not a clone of the bundle: {r.stderr}"
assert r.stdout.split() == [MAIN_TIP, MAIN_TIP], f"/app/repo does not have main checked out: {r.stdout}"

expected = {
    "/app/answer_sha.txt": ["ebbfa074f505cba4894407dc64f0a87d0d5a0324"],
    "/app/answer_subject.txt": ["Add exponential backoff helper"],
    "/app/answer_author.txt": ["Petra Holm <petra@example.org>"],
    "/app/answer_files.txt": ["src/net.py", "tests/test_net.py"],
    "/app/net_commits.txt": ["5"],
}
for path, want in expected.items():
    p = Path(path)
    assert p.is_file(), f"{path} is missing"
    got = [line.strip() for line in p.read_text().strip().splitlines()]
    assert got == want, f"{path}: got {got}, expected {want}"
print("ok")
