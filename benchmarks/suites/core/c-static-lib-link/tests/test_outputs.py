"""Checks the archive members and symbols, relinks a probe against it, runs the demo."""
import math
import os
import subprocess
import tempfile
from pathlib import Path

lib = Path("/app/build/libtoolkit.a")
assert lib.is_file(), f"{lib} is missing"
members = subprocess.run(["ar", "t", str(lib)], capture_output=True, text=True, check=True).stdout.split()
assert sorted(members) == ["strutil.o", "vec.o"], f"archive members: {members}"
syms = subprocess.run(["nm", "--defined-only", str(lib)], capture_output=True, text=True, check=True).stdout
for sym in ("vec_dot", "vec_norm", "vec_cross", "str_reverse", "str_vowels"):
    assert f" T {sym}" in syms, f"{sym} not defined in the archive"

# the archive must be usable on its own
with tempfile.TemporaryDirectory() as d:
    probe = Path(d) / "probe.c"
    probe.write_text('#include <stdio.h>\n#include "vec.h"\n#include "strutil.h"\n'
                     'int main(void){vec3 a={2,3,6};char w[]="abc";'
                     'printf("%.1f %s %zu\\n",vec_norm(a),str_reverse(w),str_vowels("queue"));return 0;}\n')
    exe = Path(d) / "probe"
    r = subprocess.run(["gcc", "-I/app/include", "-o", str(exe), str(probe), "-L/app/build", "-ltoolkit", "-lm"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout.strip() == "7.0 cba 4"

    demo = "/app/build/toolkit-demo"
    assert os.access(demo, os.X_OK), f"{demo} is missing"
    inp = Path(d) / "in.txt"
    inp.write_text("norm 1 2 2\nrev abc\nvowels AEIOUxyz\ncross 0 0 1 1 0 0\nbogus\n")
    out = subprocess.run([demo, str(inp)], capture_output=True, text=True, timeout=10)
    assert out.stdout.splitlines() == ["norm 3.0000", "rev cba", "vowels 5", "cross 0.0 1.0 0.0", "unknown"], out.stdout

expected = [
    "norm 13.0000", "rev tikloot", "vowels 5", "cross 0.0 0.0 1.0", f"norm {math.sqrt(3):.4f}",
    "rev level", "unknown", "vowels 0", "cross -3.0 6.0 -3.0",
]
report = Path("/app/build/report.txt")
assert report.is_file(), f"{report} is missing"
assert report.read_text().splitlines() == expected, report.read_text()
print("ok")
