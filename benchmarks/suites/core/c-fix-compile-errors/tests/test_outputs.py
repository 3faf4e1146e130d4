"""Recompiles /app/tempconv.c strictly, runs both binaries, checks /app/table.txt."""
import os
import subprocess
import tempfile
from pathlib import Path


def expected(values):
    lines, total = [], 0.0
    for v in values:
        f = float(v)
        c = (f - 32.0) * 5.0 / 9.0
        total += c
        lines.append(f"{f:.1f} F = {c:.1f} C")
    lines.append(f"mean = {total / len(values):.2f} C")
    return lines


with tempfile.TemporaryDirectory() as d:
    exe = os.path.join(d, "t")
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-o", exe, "/app/tempconv.c"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"source does not compile cleanly:\n{r.stderr}"
    for binary in (exe, "/app/tempconv"):
        assert os.access(binary, os.X_OK), f"{binary} missing"
        for vals in (["0", "100"], ["451", "-459.67", "50"]):
            out = subprocess.run([binary, *vals], capture_output=True, text=True, timeout=10)
            assert out.returncode == 0, out.stderr
            assert out.stdout.splitlines() == expected(vals), f"{binary} {vals}: {out.stdout}"

path = Path("/app/table.txt")
assert path.is_file(), "/app/table.txt is missing"
assert path.read_text().splitlines() == expected(["32", "212", "98.6", "-40"]), path.read_text()
print("ok")
