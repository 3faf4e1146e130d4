"""Checks /app/inventory.db (schema, types, rows) and /app/low_stock.txt against a copy of the CSV."""
import csv, sqlite3
from pathlib import Path

rows = list(csv.reader(open("/tests/items.csv", newline="")))[1:]
assert Path("/app/inventory.db").is_file(), "/app/inventory.db is missing"
con = sqlite3.connect("file:/app/inventory.db?mode=ro", uri=True)
cols = [(r[1], r[2].upper(), r[3], r[5]) for r in con.execute("PRAGMA table_info(items)")]
assert cols == [("sku", "TEXT", 0, 1), ("name", "TEXT", 1, 0), ("category", "TEXT", 1, 0),
                ("qty", "INTEGER", 1, 0), ("unit_price", "REAL", 1, 0)], f"items columns: {cols}"
got = con.execute("SELECT sku, name, category, qty, unit_price, typeof(qty), typeof(unit_price) FROM items ORDER BY sku").fetchall()
assert len(got) == len(rows), f"{len(got)} rows in items, expected {len(rows)}"
for g, r in zip(got, sorted(rows)):
    assert g[:3] == tuple(r[:3]), f"row {g} != {r}"
    assert g[5] == "integer" and g[3] == int(r[3]), f"qty of {r[0]}: {g[3]!r} ({g[5]})"
    assert g[6] == "real" and abs(g[4] - float(r[4])) < 1e-9, f"unit_price of {r[0]}: {g[4]!r} ({g[6]})"

low = sorted((r for r in rows if int(r[3]) < 10), key=lambda r: (int(r[3]), r[0]))
expected = [f"{r[0]}|{r[1]}|{r[3]}" for r in low]
path = Path("/app/low_stock.txt")
assert path.is_file(), "/app/low_stock.txt is missing"
assert path.read_text().strip().splitlines() == expected, f"low_stock.txt: expected {expected}"
print("ok")
