"""Checks /app/stats.csv against statistics recomputed from a copy of the readings."""
import csv, re
from pathlib import Path

vals = {}
for row in list(csv.reader(open("/tests/readings.csv", newline="")))[1:]:
    if row[2].strip():
        vals.setdefault(row[0], []).append(float(row[2]))
assert len(vals) == 5

path = Path("/app/stats.csv")
assert path.is_file(), "/app/stats.csv is missing"
got = [r for r in csv.reader(path.read_text().splitlines()) if r]
assert got[0] == ["sensor", "count", "min", "max", "mean"], f"header {got[0]}"
assert [r[0] for r in got[1:]] == sorted(vals), f"sensors {[r[0] for r in got[1:]]}"
for sensor, count, lo, hi, mean in got[1:]:
    v = vals[sensor]
    assert int(count) == len(v), f"{sensor}: count {count} != {len(v)}"
    for name, text, want in (("min", lo, min(v)), ("max", hi, max(v)), ("mean", mean, sum(v) / len(v))):
        assert re.fullmatch(r"-?\d+\.\d\d", text), f"{sensor} {name} {text!r} is not written with two decimals"
        assert abs(float(text) - want) <= 0.0051, f"{sensor} {name}: {text} != {want:.4f}"
print("ok")
