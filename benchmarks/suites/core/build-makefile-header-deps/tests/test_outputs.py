"""Edits headers in a copy of /app/proj and checks that make rebuilds; checks /app/banner.txt."""
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def expected(greeting, repeat, ch):
    return [f"{ch} {i}: {greeting} {ch}" for i in range(1, repeat + 1)] + [f"{ch * 3} {repeat} lines"]


def make(work, *args):
    r = subprocess.run(["make", *args], cwd=work, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"make {' '.join(args)} failed:\n{r.stdout}{r.stderr}"


def run(work):
    return subprocess.run([os.path.join(work, "banner")], capture_output=True, text=True, timeout=10).stdout.splitlines()


def edit(path, pattern, repl, bump):
    p = Path(path)
    p.write_text(re.sub(pattern, repl, p.read_text()))
    t = time.time() + bump
    os.utime(p, (t, t))


config = Path("/app/proj/config.h").read_text()
assert re.search(r"#define REPEAT 5\b", config), "REPEAT is not 5 in /app/proj/config.h"

with tempfile.TemporaryDirectory() as d:
    work = os.path.join(d, "proj")
    shutil.copytree("/app/proj", work)
    make(work, "clean")
    make(work)
    assert run(work) == expected("Fair winds from the harbour", 5, "*"), run(work)
    edit(os.path.join(work, "config.h"), r"#define REPEAT \d+", "#define REPEAT 2", 10)
    make(work)
    assert run(work) == expected("Fair winds from the harbour", 2, "*"), "config.h change not picked up by make"
    edit(os.path.join(work, "config.h"), r'#define GREETING ".*"', '#define GREETING "Storm warning"', 20)
    make(work)
    assert run(work) == expected("Storm warning", 2, "*"), "GREETING change not picked up by make"
    edit(os.path.join(work, "util.h"), r"#define FRAME_CHAR '.'", "#define FRAME_CHAR '#'", 30)
    make(work)
    assert run(work) == expected("Storm warning", 2, "#"), f"util.h change not picked up by make: {run(work)}"
    make(work, "clean")
    assert not os.path.exists(os.path.join(work, "banner")) and not os.path.exists(os.path.join(work, "main.o"))

path = Path("/app/banner.txt")
assert path.is_file(), "/app/banner.txt is missing"
assert path.read_text().splitlines() == expected("Fair winds from the harbour", 5, "*"), path.read_text()
print("ok")
