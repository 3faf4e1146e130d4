#!/bin/bash
# Oracle: an idempotent, set -u safe environment file.

ls -l /app/service/bin

cat > /app/env.sh <<'SH'
APP_HOME=/app/service
APP_ENV="${APP_ENV:-production}"
DB_NAME="app_${APP_ENV}"
DATABASE_URL="postgres://app@localhost:5432/${DB_NAME}"
case ":${PATH:-}:" in
    *":${APP_HOME}/bin:"*) ;;
    *) PATH="${APP_HOME}/bin${PATH:+:$PATH}" ;;
esac
declare -gx APP_HOME APP_ENV DB_NAME DATABASE_URL PATH
app_log() {
    printf '[%s] %s\n' "$APP_ENV" "$*"
}
SH
