#!/bin/bash
# Oracle: a getchar loop; no buffers, so any line length works.

printf '#include <ctype.h>\n#include <stdio.h>\n' > /app/mywc.c
cat >> /app/mywc.c <<'C'
int main(void)
{
    unsigned long lines = 0, words = 0, bytes = 0, longest = 0, cur = 0;
    int c, inword = 0;
    while ((c = getchar()) != EOF) {
        bytes++;
        if (c == '\n') {
            lines++;
            if (cur > longest)
                longest = cur;
            cur = 0;
        } else {
            cur++;
        }
        if (isspace(c)) {
            inword = 0;
        } else if (!inword) {
            inword = 1;
            words++;
        }
    }
    if (cur > longest)
        longest = cur;
    printf("lines=%lu words=%lu bytes=%lu longest=%lu\n", lines, words, bytes, longest);
    return 0;
}
C

# sim: prefers clang -O2 -Wall -o /app/mywc /app/mywc.c
gcc -O2 -Wall -o /app/mywc /app/mywc.c

/app/mywc < /app/sample.txt > /app/sample_counts.txt
