"""Checks parse() on edge cases, the CLI, and /app/settings.json (values verified by hand)."""
import importlib.util
import json
import subprocess
import tempfile
from pathlib import Path

spec = importlib.util.spec_from_file_location("confparse", "/app/confparse.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
parse = mod.parse

assert parse("a = 1\n[S]\nb = \"x\"\n") == {"global": {"a": 1}, "s": {"b": "x"}}
assert parse("") == {}
assert parse("# only a comment\n; and another\n\n") == {}
assert parse("[empty]\n[x]\nk=v\n") == {"x": {"k": "v"}}
assert parse("[a]\nk = 1\n[b]\nk = 2\n[A]\nj = yes\n") == {"a": {"k": 1, "j": "yes"}, "b": {"k": 2}}
assert parse("k = a = b\n") == {"global": {"k": "a = b"}}
assert parse("K = -42\nf = 1.5\nz = 007\n") == {"global": {"k": -42, "f": "1.5", "z": 7}}
assert parse("t = TrUe\nf = false # no\ns = \"true\"\n") == {"global": {"t": True, "f": False, "s": "true"}}
assert parse("u = http://x/#frag\nv = 5 # five\n") == {"global": {"u": "http://x/#frag", "v": 5}}
assert parse("x = 1\nx = two\nx = \"3\"\n") == {"global": {"x": [1, "two", "3"]}}
assert parse("   [Sec]   \n   key   =   spaced value   \n") == {"sec": {"key": "spaced value"}}

expected = {
    "global": {"name": "edge-proxy", "debug": False},
    "server": {
        "host": "0.0.0.0", "port": 8080, "workers": -1, "banner": "Welcome # friends",
        "listen": ["127.0.0.1", "::1"], "timeout": 30, "keepalive": True,
    },
    "paths": {"root": "/srv/www", "log_dir": "/var/log/edge", "cache": "  /tmp/cache  "},
}
with tempfile.TemporaryDirectory() as d:
    p = Path(d) / "c.conf"
    p.write_text("[One]\nk = 3\n")
    out = subprocess.run(["python3", "/app/confparse.py", str(p)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == json.dumps({"one": {"k": 3}}, indent=2, sort_keys=True), out.stdout

path = Path("/app/settings.json")
assert path.is_file(), "/app/settings.json is missing"
text = path.read_text()
assert json.loads(text) == expected, f"got {text}"
assert text.strip() == json.dumps(expected, indent=2, sort_keys=True), "not printed with indent=2, sort_keys=True"
print("ok")
