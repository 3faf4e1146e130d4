"""Checks the fixed median in /app/stats.py and the saved report."""
import importlib.util
import statistics
import subprocess
import tempfile
from pathlib import Path

spec = importlib.util.spec_from_file_location("stats", "/app/stats.py")
stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stats)

cases = [[3, 1, 2], [4, 1, 3, 2], [5], [10, -1], [9, 8, 7, 6, 5, 4], [2.5, 2.5, 1.0, 100.0, 3.0]]
for case in cases:
    got = stats.median(list(case))
    assert abs(got - statistics.median(case)) < 1e-9, f"median({case}) = {got}, expected {statistics.median(case)}"

with tempfile.TemporaryDirectory() as d:
    p = Path(d) / "n.txt"
    p.write_text("# x\n8\n\n1\n6\n3\n")
    out = subprocess.run(["python3", "/app/report.py", str(p)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["count=4", "mean=4.50", "median=4.50"], out.stdout

values = [48.5, 12, 97.25, 33, 61, 7.5, 150, 29]
expected = ["count=8", f"mean={statistics.mean(values):.2f}", f"median={statistics.median(values):.2f}"]
path = Path("/app/report.txt")
assert path.is_file(), "/app/report.txt is missing"
lines = path.read_text().strip().splitlines()
assert lines == expected, f"got {lines}, expected {expected}"
print("ok")
