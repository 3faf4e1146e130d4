#!/bin/bash
# Oracle: a line-by-line parser, then convert the shipped settings file.

cat > /app/confparse.py <<'PY'
"""Parser for the small section/key=value configuration format."""
import json
import re
import sys
_INT = re.compile(r"-?[0-9]+")
def _value(raw):
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1]
    cut = raw.find(" #")
    if cut != -1:
        raw = raw[:cut]
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _INT.fullmatch(raw):
        return int(raw)
    return raw
def parse(text):
    result = {}
    section = "global"
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        key, _, raw = line.partition("=")
        key, value = key.strip().lower(), _value(raw.strip())
        keys = result.setdefault(section, {})
        if key in keys:
            prev = keys[key]
            keys[key] = _Multi(prev + [value]) if isinstance(prev, _Multi) else _Multi([prev, value])
        else:
            keys[key] = value
    return {s: {k: list(v) if isinstance(v, _Multi) else v for k, v in kv.items()} for s, kv in result.items()}
class _Multi(list):
    """Marks a value that was set more than once."""
if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(parse(f.read()), indent=2, sort_keys=True))
PY

cd /app/config
python3 /app/confparse.py settings.conf > /app/settings.json
