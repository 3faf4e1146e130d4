#!/bin/bash
# Oracle: missing semicolon, misspelled variable, missing <stdlib.h> for strtod.

# sim: first-try gcc -std=c11 -Wall -Werror -o /app/tempconv /app/tempconv.c
sed -i 's|return (f - 32.0) \* 5.0 / 9.0$|return (f - 32.0) * 5.0 / 9.0;|' /app/tempconv.c
sed -i 's|f, celcius);|f, celsius);|' /app/tempconv.c
sed -i 's|#include <stdio.h>|#include <stdio.h>\n#include <stdlib.h>|' /app/tempconv.c
gcc -std=c11 -Wall -Werror -o /app/tempconv /app/tempconv.c

/app/tempconv 32 212 98.6 -40 > /app/table.txt
