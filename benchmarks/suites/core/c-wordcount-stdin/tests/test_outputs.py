"""Feeds /app/mywc fresh inputs (including a very long line) and checks /app/sample_counts.txt."""
import os
import subprocess
from pathlib import Path

WS = b" \t\n\v\f\r"


def expected(data: bytes) -> str:
    words, inword = 0, False
    for b in data:
        if b in WS:
            inword = False
        elif not inword:
            inword, words = True, words + 1
    longest = max((len(line) for line in data.split(b"\n")), default=0)
    lines = data.count(b"\n")
    return f"lines={lines} words={words} bytes={len(data)} longest={longest}"


assert Path("/app/mywc.c").is_file(), "/app/mywc.c is missing"
exe = "/app/mywc"
assert os.access(exe, os.X_OK), f"{exe} is missing"
cases = [
    b"",
    b"one\n",
    b"no newline at all",
    b"\n\n\n",
    b"  lead and trail  \n\tx\ty\r\n",
    b"a\vb\fc d\n",
    b"x" * 10000 + b" yy\nshort\n",
    (b"word " * 3000 + b"\n") * 20,
]
for data in cases:
    r = subprocess.run([exe], input=data, capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr
    got = r.stdout.decode().strip()
    assert got == expected(data), f"input {data[:40]!r}...: got {got!r}, expected {expected(data)!r}"

path = Path("/app/sample_counts.txt")
assert path.is_file(), "/app/sample_counts.txt is missing"
want = expected(Path("/app/sample.txt").read_bytes())
assert path.read_text().strip() == want, f"got {path.read_text()!r}, expected {want!r}"
print("ok")
