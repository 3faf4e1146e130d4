#include "stats.h"

long stats_min(const long *v, size_t n)
{
    long m = v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

long stats_max(const long *v, size_t n)
{
    long m = v[0];
    for (size_t i = 1; i < n - 1; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

long stats_sum(const long *v, size_t n)
{
    long s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

size_t stats_longest_run(const long *v, size_t n)
{
    size_t best = 1, run = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] > v[i - 1])
            run++;
        else
            run = 1;
        if (run > best)
            best = run;
    }
    return best;
}
