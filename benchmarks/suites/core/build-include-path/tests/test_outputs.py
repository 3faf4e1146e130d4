"""Builds a copy of /app elsewhere with make, runs matdemo on fresh matrices, checks /app/det.txt."""
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path


def det(rows):
    a = [[Fraction(x) for x in r] for r in rows]
    n, d = len(a), Fraction(1)
    for k in range(n):
        p = next((i for i in range(k, n) if a[i][k] != 0), None)
        if p is None:
            return 0
        if p != k:
            a[k], a[p] = a[p], a[k]
            d = -d
        d *= a[k][k]
        for i in range(k + 1, n):
            f = a[i][k] / a[k][k]
            for j in range(k, n):
                a[i][j] -= f * a[k][j]
    return int(d)


def expected(rows):
    n = len(rows)
    out = [f"det={det(rows)}", f"trace={sum(rows[i][i] for i in range(n))}"]
    out += [" ".join(str(rows[i][j]) for i in range(n)) for j in range(n)]
    return out


def write(path, rows):
    Path(path).write_text(f"{len(rows)}\n" + "\n".join(" ".join(map(str, r)) for r in rows) + "\n")


cases = [[[5]], [[1, 2], [3, 4]], [[0, 1, 2], [3, 0, 5], [6, 7, 0]], [[2, 4, 6], [1, 2, 3], [7, 8, 9]],
         [[3, -2, 7, 1, 0], [4, 4, -1, 2, 9], [0, 1, 1, -3, 2], [8, 0, 5, 5, -6], [1, 1, 1, 1, 1]]]
with tempfile.TemporaryDirectory() as d:
    work = os.path.join(d, "elsewhere", "proj")
    shutil.copytree("/app", work)
    for target in (["clean"], []):
        r = subprocess.run(["make", *target], cwd=work, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"make {target} failed in a copy of /app:\n{r.stdout}{r.stderr}"
    for binary in (os.path.join(work, "bin", "matdemo"), "/app/bin/matdemo"):
        assert os.access(binary, os.X_OK), f"{binary} was not built"
        for i, rows in enumerate(cases):
            f = os.path.join(d, f"m{i}.txt")
            write(f, rows)
            out = subprocess.run([binary, f], capture_output=True, text=True, timeout=10).stdout
            assert out.splitlines() == expected(rows), f"{binary} {rows}: {out}"

rows_txt = Path("/app/matrix.txt").read_text().split()
n = int(rows_txt[0])
vals = list(map(int, rows_txt[1:]))
rows = [vals[i * n:(i + 1) * n] for i in range(n)]
path = Path("/app/det.txt")
assert path.is_file(), "/app/det.txt is missing"
assert path.read_text().splitlines() == expected(rows), path.read_text()
print("ok")
