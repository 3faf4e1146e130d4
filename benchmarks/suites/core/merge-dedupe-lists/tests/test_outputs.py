"""Checks /app/all_emails.txt against a merge recomputed from copies of the lists."""
from pathlib import Path

def clean(path):
    out = set()
    for line in path.read_text().splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            out.add(line)
    return out

allm = set()
for f in Path("/tests/lists").glob("*.txt"):
    allm |= clean(f)
unsub = clean(Path("/tests/unsubscribed.list"))
expected = sorted(allm - unsub)
assert len(expected) > 20 and len(allm & unsub) >= 5

path = Path("/app/all_emails.txt")
assert path.is_file(), "/app/all_emails.txt is missing"
got = path.read_text().rstrip("\n").split("\n")
assert got == expected, f"got {len(got)} lines, expected {len(expected)}: {sorted(set(got) ^ set(expected))[:6]}"
print("ok")
