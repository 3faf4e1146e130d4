#ifndef STATS_H
#define STATS_H

#include <stddef.h>

long stats_min(const long *v, size_t n);
long stats_max(const long *v, size_t n);
long stats_sum(const long *v, size_t n);
/* length of the longest run of strictly increasing consecutive values (1 for n == 1) */
size_t stats_longest_run(const long *v, size_t n);

#endif
