"""Compiles /app/duration.c against a probe driver and compares with a Python reference."""
import os
import random
import re
import subprocess
import tempfile
from pathlib import Path

COMPONENTS = re.compile(r"(?:([0-9]+)d)? *(?:([0-9]+)h)? *(?:([0-9]+)m)? *(?:([0-9]+)s)?")
FACTOR = [86400, 3600, 60, 1]


def ref_parse(text):
    t = text.strip(" ")
    if not t:
        return -1
    if t.isdigit() and t.isascii():
        return int(t)
    m = COMPONENTS.fullmatch(t)
    if not m or all(g is None for g in m.groups()):
        return -1
    return sum(int(g) * f for g, f in zip(m.groups(), FACTOR) if g is not None)


def ref_format(secs):
    if secs < 0:
        return None
    if secs == 0:
        return "0s"
    out = ""
    for f, u in zip(FACTOR, "dhms"):
        q, secs = divmod(secs, f)
        if q:
            out += f"{q}{u}"
    return out


PROBE = r"""
#include <stdio.h>
#include <string.h>
#include "duration.h"
int main(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'P') {
            printf("%ld\n", parse_duration(line + 1));
        } else {
            long s; size_t n; char buf[128];
            sscanf(line + 1, "%ld %zu", &s, &n);
            memset(buf, '#', sizeof buf);
            int r = format_duration(s, buf, n);
            int clean = 1;
            for (size_t i = n; i < sizeof buf; i++) if (buf[i] != '#') clean = 0;
            if (r < 0) printf("-1 %d\n", clean);
            else printf("%d %s %d\n", r, buf, clean);
        }
    }
    return 0;
}
"""

parse_cases = ["1h30m", "2d 4h", "45s", "90", "  3m 20s  ", "1d1s", "0", "0s", "", " ", "5x", "h", "1h1h",
               "30m2h", "12 m", "7d23h59m59s", "-5m", "+5m", "1h 30", "100000s", "1d2h3m4s", "1d  2h   3m 4s",
               "007m", "1s1m", "2 ", " 17", "1.5h", "1hh", "3d4", "d", "10m 10", "4h\t5m", "1H", "2d0h0m0s",
               "1 2", "m5", "99999"]
rng = random.Random(7)
for _ in range(150):
    parts = []
    for u in rng.sample("dhms", rng.randint(1, 4)):
        parts.append(f"{rng.randint(0, 999)}{u}")
    if rng.random() < 0.6:
        parts.sort(key=lambda p: "dhms".index(p[-1]))
    parse_cases.append(rng.choice(["", " ", "  "]).join(parts))
format_cases = [(0, 64), (93784, 64), (3600, 64), (59, 64), (60, 64), (86400, 64), (90061, 64), (-1, 64),
                (1000000, 64), (93784, 9), (93784, 8), (3600, 3), (3600, 2), (0, 3), (0, 2), (45, 4)]
for _ in range(100):
    format_cases.append((rng.randint(0, 10**8), 64))

with tempfile.TemporaryDirectory() as d:
    Path(d, "probe.c").write_text(PROBE)
    exe = os.path.join(d, "probe")
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-I/app", "-o", exe, os.path.join(d, "probe.c"), "/app/duration.c"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"/app/duration.c does not build:\n{r.stderr}"
    feed = "".join(f"P{c}\n" for c in parse_cases) + "".join(f"F{s} {n}\n" for s, n in format_cases)
    out = subprocess.run([exe], input=feed, capture_output=True, text=True, timeout=20).stdout.splitlines()
    assert len(out) == len(parse_cases) + len(format_cases), out
    for case, got in zip(parse_cases, out):
        assert int(got) == ref_parse(case), f"parse_duration({case!r}) = {got}, expected {ref_parse(case)}"
    for (s, n), got in zip(format_cases, out[len(parse_cases):]):
        want = ref_format(s)
        fields = got.split()
        assert fields[-1] == "1", f"format_duration({s}, buf, {n}) wrote past the buffer"
        if want is None or len(want) + 1 > n:
            assert fields[0] == "-1", f"format_duration({s}, buf, {n}) should return -1, got {got}"
        else:
            assert fields[:2] == [str(len(want)), want], f"format_duration({s}, buf, {n}): got {got}, expected {want}"

exe = "/app/durations"
assert os.access(exe, os.X_OK), f"{exe} is missing"
lines = Path("/app/inputs.txt").read_text().split("\n")[:-1]
expected = []
for line in lines:
    s = ref_parse(line)
    expected.append(f"'{line}' -> invalid" if s < 0 else f"'{line}' -> {s} -> {ref_format(s)}")
r = subprocess.run([exe], input="x7m\n2h\n", capture_output=True, text=True, timeout=10)
assert r.stdout.splitlines() == ["'x7m' -> invalid", "'2h' -> 7200 -> 2h"], r.stdout
path = Path("/app/durations.txt")
assert path.is_file(), "/app/durations.txt is missing"
assert path.read_text().splitlines() == expected, path.read_text()
print("ok")
