#!/bin/bash
# Oracle: left join customers -> completed orders, totals per customer.

head -n 3 /app/customers.csv /app/orders.csv

# sim: first-try python3 -c "import pandas as pd; print(pd.__version__)"
# sim: prefers xsv join --left id /app/customers.csv customer_id /app/orders.csv > /app/customer_totals.csv
python3 - <<'PY'
import csv
from decimal import Decimal
with open("/app/customers.csv", newline="") as f:
    customers = list(csv.DictReader(f))
count = {c["id"]: 0 for c in customers}
total = {c["id"]: Decimal("0") for c in customers}
with open("/app/orders.csv", newline="") as f:
    for o in csv.DictReader(f):
        cid = o["customer_id"].strip()
        if cid in count and o["status"].strip().lower() == "completed":
            count[cid] += 1
            total[cid] += Decimal(o["amount"])
customers.sort(key=lambda c: (-total[c["id"]], int(c["id"])))
with open("/app/customer_totals.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["customer_id", "name", "country", "orders", "total"])
    for c in customers:
        w.writerow([c["id"], c["name"], c["country"], count[c["id"]], f"{total[c['id']]:.2f}"])
PY
