"""Runs /app/greet with fresh arguments and checks /app/greeting.txt."""
import os
import subprocess
from pathlib import Path


def djb2(s):
    h = 5381
    for b in s.encode():
        h = (h * 33 + b) & 0xFFFFFFFFFFFFFFFF
    return h % 100000


def expected(name, count):
    return [f"Hello, {name}! ({i}/{count})" for i in range(1, count + 1)] + [f"checksum={djb2(name)}"]


exe = Path("/app/greet")
assert exe.is_file() and os.access(exe, os.X_OK), "/app/greet is missing or not executable"
for name, count in [("Grace", 2), ("Linus Torvalds", 1), ("x", 0)]:
    r = subprocess.run([str(exe), name, str(count)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected(name, count), r.stdout

path = Path("/app/greeting.txt")
assert path.is_file(), "/app/greeting.txt is missing"
assert path.read_text().splitlines() == expected("Ada", 3), path.read_text()
print("ok")
