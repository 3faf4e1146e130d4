"""Checks the annotated tag and the hotfix branch in /app/repo (hashes verified on the bundle)."""
import subprocess

REPO = "/app/repo"
RELEASE = "87a0c7601249400a62a76386ec625740c37f3d55"
MAIN_TIP = "2713f10ce2302c0961a041e670ce945b0161e9c0"


def git(*args):
    r = subprocess.run(["git", "-c", "safe.directory=*", "-C", REPO, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"git {' '.join(args)} failed: {r.stderr}"
    return r.stdout.strip()


assert git("symbolic-ref", "--short", "HEAD") == "main", "main is not checked out"
assert git("rev-parse", "HEAD") == MAIN_TIP, "main was changed"
assert git("cat-file", "-t", "refs/tags/v1.2.0") == "tag", "v1.2.0 is not an annotated tag"
assert git("rev-parse", "v1.2.0^{commit}") == RELEASE, "v1.2.0 does not point at 'Release 1.2.0'"
tagger = git("for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags/v1.2.0")
assert tagger == "Release Bot <release@example.com>", f"tagger: {tagger}"
message = git("for-each-ref", "--format=%(contents)", "refs/tags/v1.2.0")
assert message == "Version 1.2.0", f"tag message: {message!r}"
assert git("rev-parse", "refs/heads/hotfix/1.2.x") == RELEASE, "hotfix/1.2.x does not point at 'Release 1.2.0'"
print("ok")
