"""Checks /app/errors_by_hour.txt against counts recomputed from a copy of the log."""
import collections, datetime, re
from pathlib import Path

LINE = re.compile(r'^\S+ \S+ \S+ \[([^\]]+)\] "[^"]*" (\d{3}) \S+')
counts = collections.Counter()
for line in Path("/tests/access.log").read_text().splitlines():
    m = LINE.match(line)
    assert m, line
    if m.group(2).startswith("5"):
        t = datetime.datetime.strptime(m.group(1).split()[0], "%d/%b/%Y:%H:%M:%S")
        counts[t.strftime("%Y-%m-%d %H:00")] += 1
expected = [f"{hour} {n}" for hour, n in sorted(counts.items())]
assert len(expected) >= 5 and sum(counts.values()) > 10

path = Path("/app/errors_by_hour.txt")
assert path.is_file(), "/app/errors_by_hour.txt is missing"
got = [l.strip() for l in path.read_text().strip().splitlines()]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
