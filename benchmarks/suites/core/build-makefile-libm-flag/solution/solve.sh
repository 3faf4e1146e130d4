#!/bin/bash
# Oracle: the math library is libm, linked with -lm.

# sim: first-try make -C /app
sed -i 's/^LDLIBS = -lmath$/LDLIBS = -lm/' /app/Makefile

make -C /app

/app/primes 120 > /app/primes.txt
