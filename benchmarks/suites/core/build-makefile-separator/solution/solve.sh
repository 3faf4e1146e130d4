#!/bin/bash
# Oracle: recipe lines must start with a tab, not spaces.

# sim: first-try make -C /app
sed -i 's/^    /\t/' /app/Makefile

make -C /app

/app/calc 84 -36 > /app/calc_output.txt
