"""Checks /app/summary.csv against revenue computed independently."""
from pathlib import Path

expected = ["region,revenue", "east,124.99", "north,27.50", "south,20.00"]
path = Path("/app/summary.csv")
assert path.is_file(), "/app/summary.csv is missing"
lines = path.read_text().strip().splitlines()
assert lines == expected, f"got {lines}, expected {expected}"
print("ok")
