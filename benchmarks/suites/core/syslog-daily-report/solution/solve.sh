#!/bin/bash
# Oracle: combine the rotated syslog, parse it once into a TSV, derive three reports.

mkdir -p /app/report /app/work

cd /app/logs
zcat syslog.2.gz > ../work/all.log
cat syslog.1 syslog >> ../work/all.log
wc -l ../work/all.log

python3 - <<'PY'
import datetime, re
LINE = re.compile(r"^(\w{3}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\S+) ([^\s:\[]+)(?:\[\d+\])?: (.*)$")
with open("/app/work/all.log") as f, open("/app/work/parsed.tsv", "w") as out:
    for line in f:
        line = line.rstrip("\n")
        if not line:
            continue
        m = LINE.match(line)
        if not m:
            raise SystemExit(f"unparsed: {line}")
        mon, day, hms, host, prog, msg = m.groups()
        d = datetime.datetime.strptime(f"2024 {mon} {day}", "%Y %b %d").date()
        out.write("\t".join([d.isoformat(), hms, host, prog, msg.replace("\t", " ")]) + "\n")
PY

python3 - <<'PY'
import collections
days = collections.OrderedDict()
for line in open("/app/work/parsed.tsv"):
    date, hms, host, prog, msg = line.rstrip("\n").split("\t", 4)
    row = days.setdefault(date, [0, 0, 0])
    row[0] += 1
    row[1] += "error" in msg.lower()
    row[2] += "warn" in msg.lower()
with open("/app/report/daily.csv", "w") as out:
    out.write("date,total,errors,warnings\n")
    for date in sorted(days):
        out.write(date + "," + ",".join(map(str, days[date])) + "\n")
PY

# sim: prefers datamash -s -g 4 count 4 < /app/work/parsed.tsv > /app/report/programs.csv
{ echo "program,count"; cut -f4 /app/work/parsed.tsv | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2,2 | awk '{ print $2 "," $1 }'; } > /app/report/programs.csv

python3 - <<'PY'
import collections
stamps, hours, hosts = [], collections.Counter(), set()
for line in open("/app/work/parsed.tsv"):
    date, hms, host, prog, msg = line.rstrip("\n").split("\t", 4)
    stamps.append(f"{date} {hms}")
    hours[f"{date} {hms[:2]}"] += 1
    hosts.add(host)
best = max(hours.values())
busiest = min(h for h, n in hours.items() if n == best)
with open("/app/report/summary.txt", "w") as out:
    out.write(f"first={min(stamps)}\nlast={max(stamps)}\nbusiest_hour={busiest}\nhosts={','.join(sorted(hosts))}\n")
PY
