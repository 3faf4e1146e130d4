"""Checks the filtered log and counts against a filter recomputed from a copy of the log."""
import re
from pathlib import Path

def field(line, key):
    rest = line.split(" ", 1)[1]
    rest = re.sub(r'msg="[^"]*"', "", rest)
    for tok in rest.split():
        k, _, v = tok.partition("=")
        if k == key:
            return v
    raise AssertionError(f"no {key} in {line}")

expected, per = [], {"billing": 0, "payments": 0}
for line in Path("/tests/app.log").read_text().splitlines():
    msg = re.search(r'msg="([^"]*)"', line).group(1)
    if (field(line, "level") in ("ERROR", "CRITICAL") and field(line, "service") in per
            and int(field(line, "latency_ms")) > 500 and "retry" not in msg.lower()):
        expected.append(line)
        per[field(line, "service")] += 1
assert 10 < len(expected) < 60

out = Path("/app/slow_errors.log")
assert out.is_file(), "/app/slow_errors.log is missing"
got = out.read_text().rstrip("\n").splitlines()
assert got == expected, f"got {len(got)} lines, expected {len(expected)}; first difference: " + next(
    (f"{g!r} vs {e!r}" for g, e in zip(got, expected) if g != e), "length")
cnt = Path("/app/slow_errors_count.txt")
assert cnt.is_file(), "/app/slow_errors_count.txt is missing"
want = [f"billing {per['billing']}", f"payments {per['payments']}"]
assert [" ".join(l.split()) for l in cnt.read_text().strip().splitlines()] == want, f"expected {want}"
print("ok")
