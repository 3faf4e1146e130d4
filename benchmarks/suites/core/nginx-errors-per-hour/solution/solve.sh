#!/bin/bash
# Oracle: 5xx responses per hour from the nginx access log.

head -n 3 /app/logs/access.log

cd /app/logs
# sim: prefers rg -o '\[\d+/\w+/\d+:\d+' access.log | sort | uniq -c > /app/errors_by_hour.txt
awk '$9 ~ /^5[0-9][0-9]$/ { split($4, a, /[\/:\[]/); m = (index("JanFebMarAprMayJunJulAugSepOctNovDec", a[3]) + 2) / 3; printf "%s-%02d-%s %s:00\n", a[4], m, a[2], a[5] }' access.log | sort | uniq -c | awk '{ print $2, $3, $1 }' > ../errors_by_hour.txt
