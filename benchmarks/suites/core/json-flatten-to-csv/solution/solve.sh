#!/bin/bash
# Oracle: flatten nested JSON users into fixed CSV columns.

# sim: first-try pip install pandas
python3 -c "import json; d = json.load(open('/app/users.json')); print(len(d), sorted(d[0]))"

# sim: prefers mlr --ijson --ocsv --oflatsep . sort -nf id /app/users.json > /app/users.csv
python3 - <<'PY'
import csv, json
cols = ["id", "name.first", "name.last", "contact.email", "contact.phone", "address.city",
        "address.geo.lat", "address.geo.lng", "tags", "active"]
def get(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj
def fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ";".join(v)
    return str(v)
users = sorted(json.load(open("/app/users.json", encoding="utf-8")), key=lambda u: u["id"])
with open("/app/users.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(cols)
    for u in users:
        w.writerow([fmt(get(u, c)) for c in cols])
PY
