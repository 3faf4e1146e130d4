#!/bin/bash
# Oracle: sort before picking the middle, and average the two middle values.

python3 - <<'PY'
from pathlib import Path
p = Path("/app/stats.py")
src = p.read_text()
old = src[src.index("    n = len(values)"):]
new = '''    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2 == 1:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2
'''
p.write_text(src.replace(old, new))
PY

python3 /app/report.py /app/numbers.txt > /app/report.txt
