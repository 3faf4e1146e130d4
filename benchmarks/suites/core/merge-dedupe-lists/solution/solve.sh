#!/bin/bash
# Oracle: normalise, merge and dedupe the lists, then drop the unsubscribed.

cd /app/lists
cat *.txt | tr -d '\r' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v -e '^#' -e '^$' | tr 'A-Z' 'a-z' | LC_ALL=C sort -u > ../merged.tmp
wc -l ../merged.tmp

tr -d '\r' < /app/unsubscribed.list | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v -e '^#' -e '^$' | tr 'A-Z' 'a-z' | LC_ALL=C sort -u > /app/unsub.tmp

LC_ALL=C comm -23 /app/merged.tmp /app/unsub.tmp > /app/all_emails.txt
