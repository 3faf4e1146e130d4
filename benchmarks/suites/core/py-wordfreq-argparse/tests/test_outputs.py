"""Runs /app/wordfreq.py on fresh inputs and checks /app/top_words.tsv against a recount."""
import collections
import os
import re
import subprocess
import tempfile
from pathlib import Path

SCRIPT = "/app/wordfreq.py"
assert Path(SCRIPT).is_file(), f"{SCRIPT} is missing"


def reference(paths, top=10, min_length=1, ignore=()):
    counts = collections.Counter()
    for p in paths:
        for w in re.findall(r"[a-z]+", Path(p).read_text().lower()):
            if len(w) >= min_length and w not in ignore:
                counts[w] += 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return ["word\tcount"] + [f"{w}\t{c}" for w, c in rows]


def run(*args, cwd=None):
    return subprocess.run(["python3", SCRIPT, *args], capture_output=True, text=True, timeout=30, cwd=cwd)


with tempfile.TemporaryDirectory() as d:
    a, b = os.path.join(d, "a.txt"), os.path.join(d, "b.txt")
    Path(a).write_text("Zeta alpha ALPHA beta; beta gamma. Don't stop, don't!\n")
    Path(b).write_text("alpha zeta zeta delta-delta x\n")
    ign = os.path.join(d, "ign.txt")
    Path(ign).write_text("GAMMA\n\nx\n")

    r = run(a, b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == reference([a, b]), r.stdout
    r = run("--top", "3", a, b)
    assert r.stdout.splitlines() == ["word\tcount", "alpha\t3", "zeta\t3", "beta\t2"], r.stdout
    r = run("--min-length", "5", "--ignore", ign, a, b)
    assert r.stdout.splitlines() == reference([a, b], min_length=5, ignore={"gamma", "x"}), r.stdout
    r = run("--ignore", ign, "--top", "100", a, b)
    assert r.stdout.splitlines() == reference([a, b], top=100, ignore={"gamma", "x"}), r.stdout
    out = os.path.join(d, "out.tsv")
    r = run("--output", out, "--top", "2", b)
    assert r.returncode == 0 and r.stdout == "", (r.returncode, r.stdout)
    assert Path(out).read_text().splitlines() == ["word\tcount", "delta\t2", "zeta\t2"], Path(out).read_text()

    for bad in (["--top", "0", a], ["--top", "-3", a], ["--top", "x", a], ["--min-length", "0", a], []):
        r = run(*bad)
        assert r.returncode == 2, f"{bad}: expected exit 2, got {r.returncode}"
        assert "usage" in r.stderr.lower(), f"{bad}: expected an argparse usage message"

    out2 = os.path.join(d, "never.tsv")
    r = run("--output", out2, a, "missing.txt", cwd=d)
    assert r.returncode == 1, f"missing file: expected exit 1, got {r.returncode}"
    assert "error: cannot read missing.txt" in r.stderr, r.stderr
    assert not os.path.exists(out2), "no output file may be written when an input is unreadable"

corpus = [f"/app/corpus/ch{i}.txt" for i in (1, 2, 3)]
stop = {w.strip().lower() for w in Path("/app/corpus/stopwords.txt").read_text().splitlines() if w.strip()}
expected = reference(corpus, top=12, min_length=4, ignore=stop)
path = Path("/app/top_words.tsv")
assert path.is_file(), "/app/top_words.tsv is missing"
got = path.read_text().splitlines()
assert got == expected, f"got {got}, expected {expected}"
print("ok")
