#!/bin/bash
# Oracle: write slugify with unicodedata + re, then generate the slugs.

cat > /app/textutil.py <<'PY'
"""Text helpers."""
import re
import unicodedata
def slugify(text: str, max_length: int = 40) -> str:
    """Turn a title into a URL slug."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    text = text[:max_length].rstrip("-")
    return text or "n-a"
PY

python3 /app/make_slugs.py /app/titles.txt /app/slugs.tsv
