#!/bin/bash
# Oracle: long -> wide pivot with row and column totals.

cut -d, -f2 /app/sales_long.csv | tail -n +2 | sort | uniq -c

export SRC=/app/sales_long.csv OUT=/app/pivot.csv
# sim: prefers mlr --icsv --ocsv pivot-to-wide -k month -p product -v qty "$SRC" > "$OUT"
python3 - <<'PY'
import csv, collections, os
cells = collections.defaultdict(int)
months, products = set(), set()
with open(os.environ["SRC"], newline="") as f:
    for row in csv.DictReader(f):
        m, p = row["month"].strip(), row["product"].strip()
        months.add(m)
        products.add(p)
        cells[m, p] += int(row["qty"])
products = sorted(products)
with open(os.environ["OUT"], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["month"] + products + ["total"])
    for m in sorted(months):
        vals = [cells[m, p] for p in products]
        w.writerow([m] + vals + [sum(vals)])
    cols = [sum(cells[m, p] for m in months) for p in products]
    w.writerow(["total"] + cols + [sum(cols)])
PY
