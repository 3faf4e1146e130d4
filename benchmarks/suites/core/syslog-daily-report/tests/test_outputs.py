"""Checks the three syslog reports against values recomputed from copies of the logs."""
import collections, csv, gzip
from pathlib import Path

MONTHS = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4}
L = Path("/tests/logs")
text = gzip.open(L / "syslog.2.gz", "rt").read() + (L / "syslog.1").read_text() + (L / "syslog").read_text()
entries = []
for line in text.splitlines():
    if not line.strip():
        continue
    mon, rest = line[:3], line[4:]
    day, hms, host, tag, *_ = rest.split(None, 4)
    tag_end = line.index(": ", 16)
    tag = line[:tag_end].split()[-1]
    prog = tag.split("[")[0]
    msg = line[tag_end + 2:]
    date = f"2024-{MONTHS[mon]:02d}-{int(day):02d}"
    entries.append((date, hms, host, prog, msg))
assert len(entries) > 250

daily = collections.defaultdict(lambda: [0, 0, 0])
for date, hms, host, prog, msg in entries:
    daily[date][0] += 1
    daily[date][1] += "error" in msg.lower()
    daily[date][2] += "warn" in msg.lower()
assert "2024-02-29" in daily
want_daily = [["date", "total", "errors", "warnings"]] + [[d] + [str(x) for x in daily[d]] for d in sorted(daily)]

progs = collections.Counter(e[3] for e in entries)
want_progs = [["program", "count"]] + [[p, str(n)] for p, n in sorted(progs.items(), key=lambda kv: (-kv[1], kv[0]))]

stamps = sorted(f"{d} {t}" for d, t, *_ in entries)
hours = collections.Counter(f"{d} {t[:2]}" for d, t, *_ in entries)
top = max(hours.values())
want_summary = [f"first={stamps[0]}", f"last={stamps[-1]}",
                f"busiest_hour={min(h for h, n in hours.items() if n == top)}",
                "hosts=" + ",".join(sorted({e[2] for e in entries}))]

def rows(p):
    path = Path(p)
    assert path.is_file(), f"{p} is missing"
    return [r for r in csv.reader(path.read_text().splitlines()) if r]

got = rows("/app/report/daily.csv")
assert got == want_daily, f"daily.csv: got {got}, expected {want_daily}"
got = rows("/app/report/programs.csv")
assert got == want_progs, f"programs.csv: got {got}, expected {want_progs}"
s = Path("/app/report/summary.txt")
assert s.is_file(), "/app/report/summary.txt is missing"
got = [l.strip() for l in s.read_text().strip().splitlines()]
assert got == want_summary, f"summary.txt: got {got}, expected {want_summary}"
print("ok")
