#!/bin/bash
# Oracle: add -Iinclude (relative to the project) to CFLAGS.

# sim: first-try make -C /app
sed -i 's/^CFLAGS = -O2 -Wall -std=c11$/CFLAGS = -O2 -Wall -std=c11 -Iinclude/' /app/Makefile

make -C /app

/app/bin/matdemo /app/matrix.txt > /app/det.txt
