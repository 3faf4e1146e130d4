"""Feeds /app/bin/numstat fresh inputs, compares with Python, checks /app/result.txt."""
import os
import subprocess
from pathlib import Path


def expected(values):
    if not values:
        return ["count=0"]
    best = run = 1
    for a, b in zip(values, values[1:]):
        run = run + 1 if b > a else 1
        best = max(best, run)
    return [f"count={len(values)}", f"min={min(values)}", f"max={max(values)}", f"sum={sum(values)}",
            f"longest_increasing_run={best}"]


exe = "/app/bin/numstat"
assert os.access(exe, os.X_OK), f"{exe} is missing"
cases = [[5], [1, 2, 3, 4, 100], [9, 8, 7], [3, 1, 2, 3, 4, 0, 50], [-5, -4, -4, -3, 7, 1000], list(range(40, 0, -3)) + [41]]
for case in cases:
    r = subprocess.run([exe], input=" ".join(map(str, case)) + "\n", capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected(case), f"{case}: {r.stdout}"

values = [int(t) for t in Path("/app/data/input.txt").read_text().split()]
path = Path("/app/result.txt")
assert path.is_file(), "/app/result.txt is missing"
assert path.read_text().splitlines() == expected(values), path.read_text()
print("ok")
