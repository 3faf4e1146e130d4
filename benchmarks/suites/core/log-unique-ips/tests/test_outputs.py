"""Checks /app/failed_ips.txt against counts recomputed from a copy of the log."""
import collections, re
from pathlib import Path

counts = collections.Counter()
for line in Path("/tests/auth.log").read_text().splitlines():
    if "Failed password" in line:
        m = re.search(r" from (\d+\.\d+\.\d+\.\d+) port \d+", line)
        assert m, line
        counts[m.group(1)] += 1
expected = [f"{n} {ip}" for ip, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
assert len(expected) == 8

path = Path("/app/failed_ips.txt")
assert path.is_file(), "/app/failed_ips.txt is missing"
got = [" ".join(l.split()) for l in path.read_text().strip().splitlines()]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
