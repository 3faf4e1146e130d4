"""Checks /app/users.csv against a flattening recomputed from a copy of the JSON."""
import csv, json
from pathlib import Path

cols = ["id", "name.first", "name.last", "contact.email", "contact.phone", "address.city",
        "address.geo.lat", "address.geo.lng", "tags", "active"]
users = json.loads(Path("/tests/users.json").read_text(encoding="utf-8"))
expected = [cols]
for u in sorted(users, key=lambda u: u["id"]):
    row = []
    for c in cols:
        v = u
        for k in c.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if v is None:
            row.append("")
        elif v is True or v is False:
            row.append(str(v).lower())
        elif isinstance(v, list):
            row.append(";".join(v))
        else:
            row.append(str(v))
    expected.append(row)

path = Path("/app/users.csv")
assert path.is_file(), "/app/users.csv is missing"
got = [r for r in csv.reader(open(path, newline="", encoding="utf-8")) if r]
assert got[0] == cols, f"header: {got[0]}"
assert len(got) == len(expected), f"{len(got) - 1} rows, expected {len(expected) - 1}"
for g, e in zip(got, expected):
    assert g == e, f"row differs: got {g}, expected {e}"
print("ok")
