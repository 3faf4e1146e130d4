"""Sources /app/env.sh in fresh bash shells and checks the resulting environment."""
import subprocess
from pathlib import Path

assert Path("/app/env.sh").is_file(), "/app/env.sh is missing"

def run(script, env_extra=None):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}
    env.update(env_extra or {})
    p = subprocess.run(["bash", "--noprofile", "--norc", "-c", script], capture_output=True, text=True,
                       timeout=20, env=env, cwd="/tmp")
    return p.returncode, p.stdout, p.stderr

rc, out, err = run("set -eu; source /app/env.sh")
assert rc == 0, f"sourcing under set -eu failed ({rc}): {err}"
assert out == "" and err == "", f"sourcing printed something: {out!r} {err!r}"

rc, out, err = run('set -eu; source /app/env.sh; source /app/env.sh; '
                   'printf "%s\\n" "$APP_HOME" "$APP_ENV" "$DB_NAME" "$DATABASE_URL" "$PATH"; '
                   'env | grep -c "^DATABASE_URL="; hello; app_log deploy started')
assert rc == 0, f"script failed ({rc}): {err}"
lines = out.splitlines()
assert lines[:4] == ["/app/service", "production", "app_production", "postgres://app@localhost:5432/app_production"], lines[:4]
parts = lines[4].split(":")
assert parts[0] == "/app/service/bin" and parts.count("/app/service/bin") == 1, f"PATH={lines[4]}"
assert "/usr/bin" in parts, f"PATH lost the old entries: {lines[4]}"
assert lines[5] == "1", "DATABASE_URL is not exported"
assert lines[6] == "hello from service (production)", f"hello: {lines[6]!r}"
assert lines[7] == "[production] deploy started", f"app_log: {lines[7]!r}"

rc, out, err = run('set -eu; source /app/env.sh; echo "$DB_NAME $DATABASE_URL"; app_log x  y',
                   {"APP_ENV": "staging"})
assert rc == 0, err
assert out.splitlines() == ["app_staging postgres://app@localhost:5432/app_staging", "[staging] x y"], out
rc, out, err = run('source /app/env.sh; echo "$APP_ENV"', {"APP_ENV": ""})
assert rc == 0 and out.strip() == "production", f"empty APP_ENV: {out!r} {err!r}"
rc, out, err = run('source /app/env.sh; bash -c "echo \\$APP_ENV \\$APP_HOME \\$DB_NAME"')
assert out.strip() == "production /app/service app_production", f"not exported to child shells: {out!r}"
print("ok")
