/* numstat: read whitespace-separated integers from stdin and print statistics. */
#include <stdio.h>
#include <stdlib.h>

#include "stats.h"

int main(void)
{
    size_t n = 0, cap = 16;
    long *v = malloc(cap * sizeof *v);
    long x;
    while (scanf("%ld", &x) == 1) {
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        v[n++] = x;
    }
    if (n == 0) {
        printf("count=0\n");
        return 0;
    }
    printf("count=%zu\n", n);
    printf("min=%ld\n", stats_min(v, n));
    printf("max=%ld\n", stats_max(v, n));
    printf("sum=%ld\n", stats_sum(v, n));
    printf("longest_increasing_run=%zu\n", stats_longest_run(v, n));
    free(v);
    return 0;
}
