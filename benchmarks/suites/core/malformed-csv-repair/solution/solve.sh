#!/bin/bash
# Oracle: copy, strip BOM/CRLF, parse the ;-CSV, normalise, dedupe, write clean CSV.

# sim: first-try cp /app/raw/contacts.csv /app/work/
mkdir -p /app/work /app/clean
cp /app/raw/contacts.csv /app/work/contacts.csv

sed -i -e '1s/^\xEF\xBB\xBF//' -e 's/\r$//' /app/work/contacts.csv

grep -n -i '^ *id *;' /app/work/contacts.csv
grep -c '' /app/work/contacts.csv

# sim: prefers mlr --icsv --ifs ';' --ojson cat /app/work/contacts.csv > /app/work/rows.json
python3 - <<'PY'
import csv, json
rows = []
with open("/app/work/contacts.csv", newline="", encoding="utf-8") as f:
    for rec in csv.reader(f, delimiter=";"):
        rec = [x.strip() for x in rec]
        while rec and rec[-1] == "" and len(rec) > 4:
            rec.pop()
        if not any(rec) or rec[0].lower() == "id":
            continue
        rows.append(rec)
json.dump(rows, open("/app/work/rows.json", "w"), ensure_ascii=False)
print(len(rows), "rows")
PY

python3 - <<'PY'
import json
from decimal import Decimal
latest = {}
for rid, name, city, bal in json.load(open("/app/work/rows.json")):
    bal = bal.replace(".", "").replace(",", ".") or "0"
    latest[int(rid)] = [int(rid), name, city, str(Decimal(bal).quantize(Decimal("0.01")))]
json.dump([latest[k] for k in sorted(latest)], open("/app/work/normalized.json", "w"), ensure_ascii=False)
print(len(latest), "distinct ids")
PY

python3 - <<'PY'
import csv, json
rows = json.load(open("/app/work/normalized.json"))
with open("/app/clean/contacts.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "name", "city", "balance"])
    w.writerows(rows)
PY
