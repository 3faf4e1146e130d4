#!/bin/bash
# Oracle: total revenue per region.

# sim: prefers xsv stats /app/sales.csv > /app/summary.csv
python3 - <<'PY'
import csv, collections
rev = collections.defaultdict(float)
with open("/app/sales.csv") as f:
    for row in csv.DictReader(f):
        rev[row["region"]] += int(row["units"]) * float(row["price"])
with open("/app/summary.csv", "w") as out:
    out.write("region,revenue\n")
    for region in sorted(rev):
        out.write(f"{region},{rev[region]:.2f}\n")
PY
