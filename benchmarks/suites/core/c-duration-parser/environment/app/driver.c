/* durations: read one duration per line on stdin and print "TEXT -> SECONDS -> CANONICAL". */
#include <stdio.h>
#include <string.h>

#include "duration.h"

int main(void)
{
    char line[256], canon[64];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        long secs = parse_duration(line);
        if (secs < 0) {
            printf("'%s' -> invalid\n", line);
        } else if (format_duration(secs, canon, sizeof canon) < 0) {
            printf("'%s' -> %ld -> (too long)\n", line, secs);
        } else {
            printf("'%s' -> %ld -> %s\n", line, secs, canon);
        }
    }
    return 0;
}
