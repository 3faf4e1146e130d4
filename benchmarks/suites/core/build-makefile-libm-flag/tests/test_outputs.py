"""Rebuilds a copy of /app with make, runs the binary, checks /app/primes.txt."""
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

assert hashlib.sha256(Path("/app/primes.c").read_bytes()).hexdigest() == "489b172d0fdca1f1e53adfac5e0672c7210e2ffbc039592aadd3eb672aa7dd0f", "primes.c was modified"


def expected(n):
    ps = [k for k in range(2, n + 1) if all(k % d for d in range(2, int(k ** 0.5) + 1))]
    lines = [" ".join(map(str, ps[i:i + 10])) for i in range(0, len(ps), 10)]
    return lines + [f"count={len(ps)} sum={sum(ps)}"]


with tempfile.TemporaryDirectory() as d:
    work = os.path.join(d, "app")
    shutil.copytree("/app", work)
    for target in (["clean"], []):
        r = subprocess.run(["make", *target], cwd=work, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"make {target} failed:\n{r.stdout}{r.stderr}"
    for binary in (os.path.join(work, "primes"), "/app/primes"):
        assert os.access(binary, os.X_OK), f"{binary} was not built"
        for n in (1, 10, 29, 200):
            out = subprocess.run([binary, str(n)], capture_output=True, text=True, timeout=10).stdout
            got = [line.rstrip() for line in out.splitlines()]
            assert got == expected(n), f"{binary} {n}: {out}"

path = Path("/app/primes.txt")
assert path.is_file(), "/app/primes.txt is missing"
assert [line.rstrip() for line in path.read_text().splitlines()] == expected(120), path.read_text()
print("ok")
