"""Checks valid.jsonl and rejected.csv against hand-verified expectations for the input."""
import csv, json
from pathlib import Path

# line -> (id, reason), worked out by hand from /tests/records.jsonl
want_rejected = {
    3: ("3", "bad_email"), 5: ("5", "bad_age"), 6: ("6", "bad_age"), 7: ("", "invalid_json"),
    8: ("7", "bad_age"), 9: ("8", "bad_country"), 10: ("9", "bad_date"), 11: ("10", "bad_date"),
    12: ("11", "missing_field"), 13: ("4", "duplicate_id"), 14: ("13", "bad_email"),
    18: ("16", "bad_country"), 19: ("17", "bad_email"), 21: ("98", "bad_date"), 22: ("19", "bad_age"),
    23: ("20", "bad_id"), 29: ("1", "duplicate_id"), 30: ("", "invalid_json"),
}
src = Path("/tests/records.jsonl").read_text(encoding="utf-8").splitlines()
want_valid = [json.loads(src[n - 1]) for n in range(1, len(src) + 1)
              if src[n - 1].strip() and n not in want_rejected]
assert len(want_valid) == 11

v = Path("/app/valid.jsonl")
assert v.is_file(), "/app/valid.jsonl is missing"
got = [json.loads(l) for l in v.read_text(encoding="utf-8").splitlines() if l.strip()]
assert got == want_valid, f"valid.jsonl: got ids {[r.get('id') for r in got]}, expected {[r['id'] for r in want_valid]}"
r = Path("/app/rejected.csv")
assert r.is_file(), "/app/rejected.csv is missing"
rows = [row for row in csv.reader(r.read_text().splitlines()) if row]
assert rows[0] == ["line", "id", "reason"], f"header {rows[0]}"
want = [[str(n), i, reason] for n, (i, reason) in sorted(want_rejected.items())]
assert rows[1:] == want, f"rejected.csv: got {rows[1:]}, expected {want}"
print("ok")
