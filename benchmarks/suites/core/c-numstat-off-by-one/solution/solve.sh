#!/bin/bash
# Oracle: max skips the last element; the increasing run starts at 0 instead of 1.

sed -i 's/for (size_t i = 1; i < n - 1; i++)/for (size_t i = 1; i < n; i++)/' /app/src/stats.c

sed -i 's/size_t best = 1, run = 0;/size_t best = 1, run = 1;/' /app/src/stats.c

mkdir -p /app/bin
cd /app/src
# sim: prefers tcc -Wall -o /app/bin/numstat main.c stats.c
gcc -O2 -Wall -o /app/bin/numstat main.c stats.c

/app/bin/numstat < /app/data/input.txt > /app/result.txt
