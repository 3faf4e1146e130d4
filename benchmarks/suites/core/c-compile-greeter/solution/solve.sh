#!/bin/bash
# Oracle: compile with gcc, run, save the output.

# sim: prefers clang -std=c11 -O2 -o /app/greet /app/greet.c
gcc -std=c11 -O2 -Wall -o /app/greet /app/greet.c

/app/greet Ada 3 > /app/greeting.txt
