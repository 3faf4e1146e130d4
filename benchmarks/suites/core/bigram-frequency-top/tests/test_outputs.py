"""Checks /app/top_bigrams.txt against counts recomputed from copies of the corpus."""
import collections, re
from pathlib import Path

stop = set(Path("/tests/stopwords.txt").read_text().split())
counts = collections.Counter()
for f in sorted(Path("/tests/corpus").glob("*.txt")):
    words = [w.strip("'") for w in re.findall(r"[a-z']+", f.read_text().lower())]
    words = [w for w in words if w]
    for a, b in zip(words, words[1:]):
        if a not in stop and b not in stop:
            counts[f"{a} {b}"] += 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:10]
expected = [f"{pair} {n}" for pair, n in top]

path = Path("/app/top_bigrams.txt")
assert path.is_file(), "/app/top_bigrams.txt is missing"
got = [" ".join(l.split()) for l in path.read_text().strip().splitlines()]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
