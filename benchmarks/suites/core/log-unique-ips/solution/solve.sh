#!/bin/bash
# Oracle: failed-password attempts per client IP.

grep -c 'Failed password' /app/auth.log

# sim: prefers rg -o 'Failed password .* from (\S+)' -r '$1' /app/auth.log | sort | uniq -c | sort -rn > /app/failed_ips.txt
grep 'Failed password' /app/auth.log | grep -oE 'from [0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ port' | awk '{ print $2 }' | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2,2 | awk '{ print $1, $2 }' > /app/failed_ips.txt
