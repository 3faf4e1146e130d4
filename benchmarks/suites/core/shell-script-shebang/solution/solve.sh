#!/bin/bash
# Oracle: an executable bash script with a shebang.

# sim: first-try touch /app/bin/extcount
mkdir -p /app/bin

echo '#!/usr/bin/env bash' > /app/bin/extcount
cat >> /app/bin/extcount <<'SH'
if [ "$#" -ne 1 ]; then
    echo "usage: extcount DIR" >&2
    exit 2
fi
if [ ! -d "$1" ]; then
    echo "extcount: not a directory: $1" >&2
    exit 2
fi
find "$1" -type f -printf '%f\n' | awk '{ n = $0; sub(/^\./, "", n); i = match(n, /\.[^.]+$/); if (i) print tolower(substr(n, i + 1)); else print "(none)" }' | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2,2 | awk '{ print $2, $1 }'
SH
chmod 755 /app/bin/extcount
