#!/bin/bash
# Oracle: ordered validation rules, valid records and a rejection report.

wc -l /app/records.jsonl /app/countries.txt
head -n 3 /app/records.jsonl

# sim: first-try python3 -c "import jsonschema; print(jsonschema.__version__)"
cat > /app/validate.py <<'PY'
import csv, datetime, json, re
countries = set(open("/app/countries.txt").read().split())
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
FIELDS = ("id", "name", "email", "age", "country", "signup")
def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)
def good_date(s):
    if not isinstance(s, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return False
    try:
        datetime.date.fromisoformat(s)
        return True
    except ValueError:
        return False
seen, valid, rejected = set(), [], []
for n, raw in enumerate(open("/app/records.jsonl", encoding="utf-8"), 1):
    if not raw.strip():
        continue
    try:
        rec = json.loads(raw)
    except ValueError:
        rec = None
    if not isinstance(rec, dict):
        rejected.append((n, "", "invalid_json"))
        continue
    rid = "" if "id" not in rec else str(rec["id"])
    if any(f not in rec for f in FIELDS):
        reason = "missing_field"
    elif not is_int(rec["id"]):
        reason = "bad_id"
    elif rec["id"] in seen:
        reason = "duplicate_id"
    elif not isinstance(rec["email"], str) or not EMAIL.match(rec["email"]):
        reason = "bad_email"
    elif not is_int(rec["age"]) or not 13 <= rec["age"] <= 120:
        reason = "bad_age"
    elif rec["country"] not in countries:
        reason = "bad_country"
    elif not good_date(rec["signup"]):
        reason = "bad_date"
    else:
        seen.add(rec["id"])
        valid.append(raw.strip())
        continue
    rejected.append((n, rid, reason))
with open("/app/valid.jsonl", "w", encoding="utf-8") as f:
    f.write("".join(line + "\n" for line in valid))
with open("/app/rejected.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["line", "id", "reason"])
    w.writerows(rejected)
print(len(valid), "valid,", len(rejected), "rejected")
PY

# sim: prefers mlr --ijsonl --ojsonl filter 'is_int($age) && $age >= 13 && $age <= 120' /app/records.jsonl > /app/valid.jsonl
python3 /app/validate.py
