"""Runs /app/bin/extcount directly (no interpreter in front) on trees built here."""
import collections, os, subprocess, tempfile
from pathlib import Path

path = Path("/app/bin/extcount")
assert path.is_file(), "/app/bin/extcount is missing"
assert os.access(path, os.X_OK) and path.stat().st_mode & 0o111, "/app/bin/extcount is not executable"
assert path.read_bytes().startswith(b"#!"), "/app/bin/extcount has no shebang line"

def ext(name):
    n = name[1:] if name.startswith(".") else name
    base, dot, e = n.rpartition(".")
    return e.lower() if dot and e else "(none)"

root = Path(tempfile.mkdtemp()) / "tree dir"
files = ["a.txt", "B.TXT", "c.Txt", "deep/er/x.py", "deep/er/y.py", "deep/z.PY", "my notes.txt", ".bashrc",
         ".env.local", "Makefile", "trailing.", "arch.tar.gz", "one.gz", "docs/readme.md", "docs/.hidden",
         "docs/sub dir/pic.jpeg", "e.c", "f.h", "g.c"]
for f in files:
    p = root / f
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("x\n")
(root / "empty.dir.d").mkdir()
counts = collections.Counter(ext(Path(f).name) for f in files)
want = "".join(f"{e} {n}\n" for e, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode())))

def run(*args, cwd="/tmp", env=None):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=10, cwd=cwd, env=env)

p = run("/app/bin/extcount", str(root))
assert p.returncode == 0, f"exit {p.returncode}, stderr {p.stderr!r}"
assert p.stdout == want, f"printed:\n{p.stdout}\nexpected:\n{want}"

env = {"PATH": "/app/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
p = run("extcount", "deep", cwd=str(root), env=env)
assert p.returncode == 0 and p.stdout == "py 3\n", f"via PATH, relative dir: {p.returncode} {p.stdout!r} {p.stderr!r}"
for args in ((), (str(root), str(root))):
    p = run("/app/bin/extcount", *args)
    assert p.returncode == 2, f"extcount with {len(args)} arguments: exit {p.returncode}, expected 2"
    assert p.stdout == "" and p.stderr.lstrip().lower().startswith("usage:"), f"usage: {p.stdout!r} {p.stderr!r}"
for bad in ("/nonexistent/dir", str(root / "a.txt")):
    p = run("/app/bin/extcount", bad)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.strip(), f"extcount {bad}: {p.returncode} {p.stdout!r} {p.stderr!r}"
print("ok")
