"""Checks the migrated /app/db/shop.db: schema, constraints, index, view, data, backup, report."""
import re, shutil, sqlite3, tempfile
from pathlib import Path

D = Path("/app/db")
bak = D / "shop.db.bak"
assert bak.is_file() and bak.read_bytes() == Path("/tests/shop_orig.db").read_bytes(), "shop.db.bak is not the original"
assert (D / "shop.db").is_file(), "/app/db/shop.db is missing"
con = sqlite3.connect("file:/app/db/shop.db?mode=ro", uri=True)
objs = {(t, n) for t, n in con.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
assert objs == {("table", "products"), ("table", "orders"), ("index", "idx_orders_product"), ("view", "product_revenue")}, objs

def cols(t):
    return [(r[1], r[2].upper(), r[3], r[5]) for r in con.execute(f"PRAGMA table_info({t})")]
assert cols("products") == [("id", "INTEGER", 0, 1), ("name", "TEXT", 1, 0), ("price_cents", "INTEGER", 1, 0),
                            ("category", "TEXT", 1, 0)], cols("products")
assert cols("orders") == [("id", "INTEGER", 0, 1), ("product_id", "INTEGER", 1, 0), ("qty", "INTEGER", 1, 0),
                          ("created", "TEXT", 1, 0)], cols("orders")
fks = [(r[2], r[3], r[4]) for r in con.execute("PRAGMA foreign_key_list(orders)")]
assert fks == [("products", "product_id", "id")], f"orders foreign keys: {fks}"
assert [r[2] for r in con.execute("PRAGMA index_info(idx_orders_product)")] == ["product_id"]
assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
assert con.execute("PRAGMA foreign_key_check").fetchall() == []

want_products = [(1, "Kettle", 2499, "kitchen"), (2, "Toaster", 4100, "kitchen"), (3, "Desk Lamp", 129900, "office"),
                 (4, "Stapler", 300, "office"), (5, "Rake", 1375, "garden"), (6, "Hose", 99, "garden"),
                 (7, "Notebook", 210, "office"), (8, "Trowel", 700, "garden")]
got = con.execute("SELECT id, name, price_cents, category FROM products ORDER BY id").fetchall()
assert got == want_products, f"products: {got}"
assert con.execute("SELECT count(*) FROM products WHERE typeof(price_cents) != 'integer'").fetchone()[0] == 0

orig = sqlite3.connect("file:/tests/shop_orig.db?mode=ro", uri=True)
want_orders = []
for oid, pid, qty, created in orig.execute("SELECT id, product_id, qty, created FROM orders ORDER BY id"):
    if int(pid) in {p[0] for p in want_products}:
        if "/" in created:
            d, m, y = created.split("/")
            created = f"{y}-{m}-{d}"
        want_orders.append((int(oid), int(pid), int(qty), created))
got = con.execute("SELECT id, product_id, qty, created FROM orders ORDER BY id").fetchall()
assert got == want_orders, f"orders differ: {sorted(set(got) ^ set(want_orders))[:5]}"
assert con.execute("SELECT count(*) FROM orders WHERE typeof(qty) != 'integer' OR typeof(product_id) != 'integer'").fetchone()[0] == 0
assert len(want_orders) == 35

price = {p[0]: p[2] for p in want_products}
rev = {p[0]: 0 for p in want_products}
for _, pid, qty, _ in want_orders:
    rev[pid] += qty * price[pid]
got = con.execute("SELECT product_id, name, revenue_cents FROM product_revenue ORDER BY product_id").fetchall()
assert got == [(p[0], p[1], rev[p[0]]) for p in want_products], f"product_revenue: {got}"

tmp = Path(tempfile.mkdtemp()) / "copy.db"
shutil.copy(D / "shop.db", tmp)
w = sqlite3.connect(tmp)
for bad in ("INSERT INTO products VALUES (99, 'x', -1, 'y')", "INSERT INTO products VALUES (98, NULL, 1, 'y')",
            "INSERT INTO orders VALUES (999, 1, 0, '2024-01-01')", "INSERT INTO orders VALUES (998, NULL, 1, '2024-01-01')"):
    try:
        w.execute(bad)
    except sqlite3.IntegrityError:
        continue
    raise AssertionError(f"constraint missing: {bad} was accepted")

rep = D / "migration_report.txt"
assert rep.is_file(), "/app/db/migration_report.txt is missing"
want = ["products=8", "orders=35", "dropped_orders=5", "duplicate_products=2"]
assert [l.strip() for l in rep.read_text().strip().splitlines()] == want, f"report: expected {want}"
print("ok")
