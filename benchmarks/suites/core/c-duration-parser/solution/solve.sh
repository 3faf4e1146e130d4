#!/bin/bash
# Oracle: a small hand-written scanner; units ranked d > h > m > s.

printf '#include <ctype.h>\n#include <stdio.h>\n#include <string.h>\n#include "duration.h"\n' > /app/duration.c
cat >> /app/duration.c <<'C'
static const char UNITS[] = "dhms";
static const long FACTOR[] = {86400, 3600, 60, 1};
long parse_duration(const char *text)
{
    const char *p = text, *end = text + strlen(text);
    while (*p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    if (p == end)
        return -1;
    const char *q = p;
    while (q < end && isdigit((unsigned char)*q))
        q++;
    if (q == end) {
        long v = 0;
        for (; p < end; p++)
            v = v * 10 + (*p - '0');
        return v;
    }
    long total = 0;
    int next_rank = 0;
    while (p < end) {
        if (!isdigit((unsigned char)*p))
            return -1;
        long v = 0;
        while (p < end && isdigit((unsigned char)*p))
            v = v * 10 + (*p++ - '0');
        if (p == end)
            return -1;
        const char *u = strchr(UNITS, *p);
        if (*p == '\0' || u == NULL)
            return -1;
        int rank = (int)(u - UNITS);
        if (rank < next_rank)
            return -1;
        next_rank = rank + 1;
        total += v * FACTOR[rank];
        p++;
        while (p < end && *p == ' ')
            p++;
    }
    return total;
}
int format_duration(long secs, char *buf, size_t n)
{
    char tmp[96];
    int len = 0;
    if (secs < 0)
        return -1;
    if (secs == 0) {
        len = snprintf(tmp, sizeof tmp, "0s");
    } else {
        for (int i = 0; i < 4; i++) {
            long q = secs / FACTOR[i];
            secs %= FACTOR[i];
            if (q > 0)
                len += snprintf(tmp + len, sizeof tmp - len, "%ld%c", q, UNITS[i]);
        }
    }
    if ((size_t)len + 1 > n)
        return -1;
    memcpy(buf, tmp, (size_t)len + 1);
    return len;
}
C

gcc -std=c11 -O2 -Wall -Wextra -c /app/duration.c -o /app/duration.o

# sim: prefers clang -std=c11 -O2 -o /app/durations /app/driver.c /app/duration.o
gcc -std=c11 -O2 -Wall -o /app/durations /app/driver.c /app/duration.o

/app/durations < /app/inputs.txt > /app/durations.txt
