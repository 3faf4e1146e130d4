"""Checks /app/summary.json against a summary recomputed from copies of the exports."""
import json
from datetime import datetime, timedelta
from pathlib import Path

def utc(ts):
    if ts.endswith("Z"):
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    base, sign, off = ts[:19], ts[19], ts[20:]
    h, m = map(int, off.split(":"))
    delta = timedelta(hours=h, minutes=m)
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    return t - delta if sign == "+" else t + delta

events, skipped = [], 0
for f in sorted(Path("/tests/data").glob("*.jsonl")):
    for line in f.read_text().splitlines():
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
            assert isinstance(ev, dict) and {"user", "type", "ts"} <= set(ev)
        except (ValueError, AssertionError):
            skipped += 1
            continue
        ev["t"] = utc(ev["ts"])
        events.append(ev)

U, D = {}, {}
for ev in events:
    u = U.setdefault(ev["user"], {"events": 0, "by_type": {}, "rev": 0.0, "devices": set(), "times": []})
    u["events"] += 1
    u["by_type"][ev["type"]] = u["by_type"].get(ev["type"], 0) + 1
    amt = ev["amount"] if ev["type"] == "purchase" else 0
    u["rev"] += amt
    if isinstance(ev.get("meta"), dict) and ev["meta"].get("device"):
        u["devices"].add(ev["meta"]["device"])
    u["times"].append(ev["t"])
    d = D.setdefault(ev["t"].strftime("%Y-%m-%d"), {"events": 0, "users": set(), "rev": 0.0})
    d["events"] += 1
    d["users"].add(ev["user"])
    d["rev"] += amt
assert skipped == 3 and "2024-07-03" in D and len(U) == 7

def close(a, b, what):
    assert isinstance(a, (int, float)) and not isinstance(a, bool), f"{what}: {a!r} is not a number"
    assert abs(a - b) <= 0.006, f"{what}: {a} != {b:.3f}"

path = Path("/app/summary.json")
assert path.is_file(), "/app/summary.json is missing"
s = json.loads(path.read_text())
assert set(s) == {"users", "days", "totals"}, f"top-level keys {sorted(s)}"
assert sorted(s["users"]) == sorted(U), f"users {sorted(s['users'])} != {sorted(U)}"
F = "%Y-%m-%dT%H:%M:%SZ"
for name, u in U.items():
    g = s["users"][name]
    assert g["events"] == u["events"], f"{name} events"
    assert g["by_type"] == u["by_type"], f"{name} by_type {g['by_type']} != {u['by_type']}"
    close(g["revenue"], u["rev"], f"{name} revenue")
    assert g["devices"] == sorted(u["devices"]), f"{name} devices"
    assert g["first_seen"] == min(u["times"]).strftime(F), f"{name} first_seen {g['first_seen']}"
    assert g["last_seen"] == max(u["times"]).strftime(F), f"{name} last_seen {g['last_seen']}"
assert sorted(s["days"]) == sorted(D), f"days {sorted(s['days'])} != {sorted(D)}"
for day, d in D.items():
    g = s["days"][day]
    assert g["events"] == d["events"] and g["users"] == len(d["users"]), f"day {day}: {g}"
    close(g["revenue"], d["rev"], f"day {day} revenue")
t = s["totals"]
assert t["events"] == len(events) and t["users"] == len(U) and t["skipped_lines"] == skipped, f"totals {t}"
close(t["revenue"], sum(u["rev"] for u in U.values()), "total revenue")
assert t["top_user"] == min(U, key=lambda n: (-round(U[n]["rev"], 2), n)), f"top_user {t['top_user']}"
print("ok")
