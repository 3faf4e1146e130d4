"""Checks /app/customer_totals.csv against a join recomputed from copies of the inputs."""
import csv
from pathlib import Path

cust = list(csv.reader(open("/tests/customers.csv", newline="")))[1:]
orders = list(csv.reader(open("/tests/orders.csv", newline="")))[1:]
cents, n = {c[0]: 0 for c in cust}, {c[0]: 0 for c in cust}
for oid, cid, amount, status in orders:
    if cid in cents and status.strip().lower() == "completed":
        whole, frac = amount.split(".")
        cents[cid] += int(whole) * 100 + int(frac.ljust(2, "0"))
        n[cid] += 1
rows = sorted(cust, key=lambda c: (-cents[c[0]], int(c[0])))
expected = [["customer_id", "name", "country", "orders", "total"]] + [
    [c[0], c[1], c[2], str(n[c[0]]), f"{cents[c[0]] // 100}.{cents[c[0]] % 100:02d}"] for c in rows]
assert any(n[c] == 0 for c in n) and len(expected) == 13

path = Path("/app/customer_totals.csv")
assert path.is_file(), "/app/customer_totals.csv is missing"
got = [r for r in csv.reader(open(path, newline="", encoding="utf-8")) if r]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
