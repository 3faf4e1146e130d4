#!/bin/bash
# Oracle: merge the two node logs, pair login/logout per session, aggregate per user.

mkdir -p /app/work

cd /app/logs
cat node-a.log node-b.log | LC_ALL=C sort -s -k1,2 > ../work/events.log
wc -l ../work/events.log

cat > /app/work/pair.py <<'PY'
import datetime
fmt = "%Y-%m-%d %H:%M:%S"
login, logout = {}, {}
for line in open("/app/work/events.log"):
    parts = line.split()
    if len(parts) < 6:
        continue
    ts = datetime.datetime.strptime(parts[0] + " " + parts[1], fmt)
    kv = dict(p.split("=", 1) for p in parts[2:])
    if kv["action"] == "login":
        login[kv["session"]] = (ts, kv["user"])
    elif kv["action"] == "logout":
        logout[kv["session"]] = ts
rows = []
for s, (start, user) in login.items():
    if s in logout:
        end = logout[s]
        rows.append((start, s, user, end, int((end - start).total_seconds())))
rows.sort()
with open("/app/out/sessions.csv", "w") as out:
    out.write("session,user,start,end,duration_s\n")
    for start, s, user, end, d in rows:
        out.write(f"{s},{user},{start:{fmt}},{end:{fmt}},{d}\n")
with open("/app/out/unmatched.txt", "w") as out:
    for s in sorted(s for s in login if s not in logout):
        out.write(s + "\n")
PY

# sim: first-try python3 /app/work/pair.py
mkdir -p /app/out
python3 /app/work/pair.py

head -n 5 /app/out/sessions.csv
wc -l /app/out/sessions.csv /app/out/unmatched.txt

# sim: prefers datamash -t, -s -H -g 2 count 5 sum 5 max 5 < /app/out/sessions.csv > /app/out/user_totals.csv
{ echo "user,sessions,total_s,max_s"; tail -n +2 /app/out/sessions.csv | LC_ALL=C sort -t, -k2,2 | awk -F, '{ n[$2]++; t[$2] += $5; if (!($2 in m) || $5 > m[$2]) m[$2] = $5 } END { for (u in n) print u "," n[u] "," t[u] "," m[u] }' | LC_ALL=C sort -t, -k1,1; } > /app/out/user_totals.csv
