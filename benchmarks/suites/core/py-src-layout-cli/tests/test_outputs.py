"""Runs the fixed package and checks /app/conversions.txt against independent arithmetic."""
import os
import subprocess
from pathlib import Path

LENGTH = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "in": 0.0254}


def expected(value, src, dst):
    if src in LENGTH:
        out = value * LENGTH[src] / LENGTH[dst]
    else:
        c = {"c": lambda v: v, "f": lambda v: (v - 32) * 5 / 9, "k": lambda v: v - 273.15}[src](value)
        out = {"c": lambda v: v, "f": lambda v: v * 9 / 5 + 32, "k": lambda v: v + 273.15}[dst](c)
    return f"{out:.3f} {dst}"


env = dict(os.environ, PYTHONPATH="/app/src")
for args in [("2.5", "mi", "km"), ("100", "ft", "m"), ("50", "f", "c"), ("0", "f", "k"), ("25", "c", "k"), ("36", "in", "ft")]:
    r = subprocess.run(["python3", "-m", "unitconv", *args], capture_output=True, text=True, env=env, cwd="/tmp", timeout=30)
    assert r.returncode == 0, r.stderr
    want = expected(float(args[0]), args[1], args[2])
    assert r.stdout.strip() == want, f"{args}: got {r.stdout.strip()!r}, expected {want!r}"

queries = [line.split() for line in Path("/app/queries.txt").read_text().splitlines() if line.strip()]
want = [expected(float(v), s, d) for v, s, d in queries]
assert want[0] == "3.107 mi" and want[1] == "100.000 c"
path = Path("/app/conversions.txt")
assert path.is_file(), "/app/conversions.txt is missing"
got = path.read_text().strip().splitlines()
assert got == want, f"got {got}, expected {want}"
print("ok")
