"""Checks /app/pivot.csv against a pivot recomputed from a copy of the input."""
import csv
from pathlib import Path

rows = list(csv.reader(open("/tests/sales_long.csv", newline="")))[1:]
products = sorted({r[1] for r in rows})
months = sorted({r[0] for r in rows})
def q(m, p):
    return sum(int(r[2]) for r in rows if r[0] == m and r[1] == p)
expected = [["month"] + products + ["total"]]
for m in months:
    vals = [q(m, p) for p in products]
    expected.append([m] + [str(v) for v in vals] + [str(sum(vals))])
cols = [sum(q(m, p) for m in months) for p in products]
expected.append(["total"] + [str(c) for c in cols] + [str(sum(cols))])
assert len(products) == 5 and "2023-10" in months

path = Path("/app/pivot.csv")
assert path.is_file(), "/app/pivot.csv is missing"
got = [r for r in csv.reader(path.read_text().splitlines()) if r]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
