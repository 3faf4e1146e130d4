#!/bin/bash
# Oracle: combine the exports, drop bad lines, normalise times to UTC, summarise.

mkdir -p /app/work

cd /app/data
cat events-*.jsonl > ../work/all.jsonl
wc -l ../work/all.jsonl

python3 - <<'PY'
import datetime, json
good, skipped = [], 0
for line in open("/app/work/all.jsonl", encoding="utf-8"):
    if not line.strip():
        continue
    try:
        ev = json.loads(line)
    except ValueError:
        skipped += 1
        continue
    if not isinstance(ev, dict) or not all(k in ev for k in ("user", "type", "ts")):
        skipped += 1
        continue
    ts = datetime.datetime.fromisoformat(ev["ts"].replace("Z", "+00:00")).astimezone(datetime.timezone.utc)
    ev["ts_utc"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    good.append(ev)
with open("/app/work/valid.jsonl", "w") as f:
    f.writelines(json.dumps(ev) + "\n" for ev in good)
open("/app/work/skipped.txt", "w").write(f"{skipped}\n")
print(len(good), "events,", skipped, "skipped")
PY

cat > /app/work/summarize.py <<'PY'
import collections, json
events = [json.loads(l) for l in open("/app/work/valid.jsonl")]
skipped = int(open("/app/work/skipped.txt").read())
users, days = {}, {}
for ev in events:
    u = users.setdefault(ev["user"], {"events": 0, "by_type": collections.Counter(), "revenue": 0.0,
                                      "devices": set(), "first_seen": ev["ts_utc"], "last_seen": ev["ts_utc"]})
    d = days.setdefault(ev["ts_utc"][:10], {"events": 0, "users": set(), "revenue": 0.0})
    amount = ev.get("amount", 0) if ev["type"] == "purchase" else 0
    u["events"] += 1
    u["by_type"][ev["type"]] += 1
    u["revenue"] += amount
    device = (ev.get("meta") or {}).get("device")
    if device:
        u["devices"].add(device)
    u["first_seen"] = min(u["first_seen"], ev["ts_utc"])
    u["last_seen"] = max(u["last_seen"], ev["ts_utc"])
    d["events"] += 1
    d["users"].add(ev["user"])
    d["revenue"] += amount
out = {"users": {}, "days": {}, "totals": {}}
for name in sorted(users):
    u = users[name]
    out["users"][name] = {"events": u["events"], "by_type": dict(sorted(u["by_type"].items())),
                          "revenue": round(u["revenue"], 2), "devices": sorted(u["devices"]),
                          "first_seen": u["first_seen"], "last_seen": u["last_seen"]}
for day in sorted(days):
    d = days[day]
    out["days"][day] = {"events": d["events"], "users": len(d["users"]), "revenue": round(d["revenue"], 2)}
top = min(users, key=lambda n: (-users[n]["revenue"], n))
out["totals"] = {"events": len(events), "users": len(users),
                 "revenue": round(sum(u["revenue"] for u in users.values()), 2),
                 "top_user": top, "skipped_lines": skipped}
json.dump(out, open("/app/work/summary.tmp.json", "w"), indent=2)
PY

python3 /app/work/summarize.py

python3 -c "import json; s = json.load(open('/app/work/summary.tmp.json')); print(s['totals'], sorted(s['days']))"

python3 -m json.tool --sort-keys /app/work/summary.tmp.json > /app/summary.json
