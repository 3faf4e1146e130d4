"""Rebuilds a copy of /app with its Makefile, runs the binaries, checks /app/calc_output.txt."""
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def expected(a, b):
    g = math.gcd(a, b)
    lcm = 0 if a == 0 or b == 0 else abs(a // g * b)
    return [f"gcd={g}", f"lcm={lcm}", f"pow={a ** (abs(b) % 8)}"]


with tempfile.TemporaryDirectory() as d:
    work = os.path.join(d, "app")
    shutil.copytree("/app", work)
    r = subprocess.run(["make", "clean"], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"make clean failed:\n{r.stdout}{r.stderr}"
    assert not os.path.exists(os.path.join(work, "calc")), "make clean must remove calc"
    r = subprocess.run(["make"], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"make failed:\n{r.stdout}{r.stderr}"
    for binary in (os.path.join(work, "calc"), "/app/calc"):
        assert os.access(binary, os.X_OK), f"{binary} was not built"
        for a, b in [(12, 18), (7, 0), (-4, 3), (2, 15)]:
            out = subprocess.run([binary, str(a), str(b)], capture_output=True, text=True, timeout=10).stdout
            assert out.splitlines() == expected(a, b), f"{binary} {a} {b}: {out}"

path = Path("/app/calc_output.txt")
assert path.is_file(), "/app/calc_output.txt is missing"
assert path.read_text().splitlines() == expected(84, -36), path.read_text()
print("ok")
