#!/bin/bash
# Oracle: migrate schema-1 customer records to schema 2, one file at a time, then index.

mkdir -p /app/v2 /app/work

ls /app/v1 | wc -l
grep -l '"schema": 1' /app/v1/*.json | wc -l

cat > /app/work/migrate.py <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
rec = json.load(open(src))
if rec.get("schema_version") == 2:
    out = rec
else:
    first, _, last = rec["full_name"].partition(" ")
    mm, dd, yyyy = rec["created"].split("/")
    street, city, zipc = (x.strip() for x in rec["address"].rsplit(",", 2))
    cents = rec["balance_cents"]
    out = {
        "schema_version": 2,
        "id": int(rec["id"].split("-")[1]),
        "name": {"first": first, "last": last},
        "email": rec["email"].lower(),
        "created_at": f"{yyyy}-{mm}-{dd}",
        "balance": cents // 100 if cents % 100 == 0 else cents / 100,
        "tags": sorted({t.strip() for t in rec["tags"].split(",") if t.strip()}),
        "address": {"street": street, "city": city, "zip": zipc},
    }
with open(os.path.join(dst, os.path.basename(src)), "w") as f:
    json.dump(out, f, indent=2, ensure_ascii=False)
PY

export SRC=/app/v1 DST=/app/v2
for f in "$SRC"/*.json; do python3 /app/work/migrate.py "$f" "$DST" || echo "FAILED $f"; done
ls "$DST"

ls /app/v2 | wc -l
for f in /app/v2/*.json; do python3 -m json.tool "$f" > /dev/null || echo "BAD $f"; done

python3 - <<'PY'
import glob, json, os
index = []
for path in glob.glob("/app/v2/C-*.json"):
    rec = json.load(open(path))
    migrated = json.load(open(os.path.join("/app/v1", os.path.basename(path)))).get("schema_version") != 2
    index.append({"id": rec["id"], "file": os.path.basename(path), "migrated": migrated})
index.sort(key=lambda r: r["id"])
json.dump(index, open("/app/v2/index.json", "w"), indent=2)
PY
