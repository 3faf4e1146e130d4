#!/bin/bash
# Oracle: objects -> ar archive -> link with -L/-l and -lm -> run.

mkdir -p /app/build

cd /app/build
# sim: prefers ccache gcc -O2 -Wall -I../include -c ../lib/vec.c -o vec.o
gcc -O2 -Wall -I../include -c ../lib/vec.c -o vec.o

cd /app/build
gcc -O2 -Wall -I../include -c ../lib/strutil.c -o strutil.o

cd /app/build
ar rcs libtoolkit.a vec.o strutil.o

# sim: first-try gcc -O2 -o /app/build/toolkit-demo /app/app/main.c
gcc -O2 -Wall -I/app/include -o /app/build/toolkit-demo /app/app/main.c -L/app/build -ltoolkit -lm

/app/build/toolkit-demo /app/app/input.txt > /app/build/report.txt
