"""Runs the agent's /app/Makefile: outputs, default target, incremental rebuilds, clean."""
import os, subprocess, tarfile, time
from pathlib import Path

A = Path("/app")
assert (A / "Makefile").is_file(), "/app/Makefile is missing"
assert (A / "dist/site.tar.gz").is_file(), "/app/dist/site.tar.gz is missing (make was not run)"

def make(*args):
    p = subprocess.run(["make", "-C", "/app", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"make {' '.join(args)} failed: {p.stdout}{p.stderr}"
    return p.stdout

def html(text):
    lines = text.splitlines()
    out = ["<html><body>", f"<h1>{lines[0]}</h1>"] + [f"<p>{l}</p>" for l in lines[1:] if l.strip()]
    return "\n".join(out + ["</body></html>"])

def check_outputs(names):
    for n in names:
        got = (A / "build" / f"{n}.html").read_text().strip("\n")
        assert got == html((A / "pages" / f"{n}.txt").read_text()), f"build/{n}.html is wrong:\n{got}"
    with tarfile.open(A / "dist/site.tar.gz", "r:gz") as t:
        members = sorted(m.name.removeprefix("./") for m in t.getmembers() if m.isfile())
        assert members == sorted(f"{n}.html" for n in names), f"archive members {members}"
        for n in names:
            assert t.extractfile(next(m for m in t.getmembers() if m.name.removeprefix("./") == f"{n}.html")).read() \
                == (A / "build" / f"{n}.html").read_bytes(), f"archived {n}.html differs"

for n in ("index", "about", "contact"):
    assert (A / "pages" / f"{n}.txt").read_text() == Path("/tests/pages", f"{n}.txt").read_text(), f"pages/{n}.txt was changed"

make("clean")
assert not (A / "build").exists() and not (A / "dist").exists(), "make clean left build/ or dist/"
make()
pages = ["about", "contact", "index"]
check_outputs(pages)

def mtimes():
    return {p: p.stat().st_mtime_ns for p in list((A / "build").glob("*.html")) + [A / "dist/site.tar.gz"]}
before = mtimes()
time.sleep(1.1)
make()
assert mtimes() == before, "a second make with nothing changed rewrote files"

later = time.time() + 5
os.utime(A / "pages/about.txt", (later, later))
make()
after = mtimes()
changed = sorted(p.name for p in after if after[p] != before[p])
assert changed == ["about.html", "site.tar.gz"], f"after touching about.txt these were rebuilt: {changed}"

(A / "pages/faq.txt").write_text("FAQ\nIs it free?\n\nYes.\n")
try:
    make("dist")
    check_outputs(pages + ["faq"])
finally:
    (A / "pages/faq.txt").unlink()
make("clean")
assert not (A / "build").exists() and not (A / "dist").exists(), "make clean left build/ or dist/"
print("ok")
