#!/bin/bash
# Oracle: per-sensor count/min/max/mean of the non-empty readings.

# sim: prefers datamash -t, -s -H --narm groupby 1 count 3 min 3 max 3 mean 3 < /app/readings.csv > /app/stats.csv
python3 - <<'PY'
import csv, collections
vals = collections.defaultdict(list)
with open("/app/readings.csv", newline="") as f:
    for row in csv.DictReader(f):
        v = row["celsius"].strip()
        if v:
            vals[row["sensor"]].append(float(v))
with open("/app/stats.csv", "w") as out:
    out.write("sensor,count,min,max,mean\n")
    for s in sorted(vals):
        v = vals[s]
        out.write(f"{s},{len(v)},{min(v):.2f},{max(v):.2f},{sum(v) / len(v):.2f}\n")
PY
