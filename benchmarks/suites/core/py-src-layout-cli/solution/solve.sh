#!/bin/bash
# Oracle: fix the length ratio and the Fahrenheit formula, then run with PYTHONPATH=src.

sed -i 's|return value \* LENGTH\[dst\] / LENGTH\[src\]|return value * LENGTH[src] / LENGTH[dst]|' /app/src/unitconv/convert.py

sed -i 's|return (value - 32) \* 9 / 5|return (value - 32) * 5 / 9|' /app/src/unitconv/convert.py

# sim: first-try pip install -e /app
export PYTHONPATH=/app/src
while read -r value src dst; do python3 -m unitconv "$value" "$src" "$dst"; done < /app/queries.txt > /app/conversions.txt
