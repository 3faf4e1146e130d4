/* primes N: print the primes up to N, ten per line, then their count and sum. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int is_prime(long n)
{
    if (n < 2)
        return 0;
    long limit = (long)sqrt((double)n);
    for (long d = 2; d <= limit; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), count = 0, sum = 0;
    for (long k = 2; k <= n; k++) {
        if (!is_prime(k))
            continue;
        printf(count % 10 == 9 ? "%ld\n" : "%ld ", k);
        count++;
        sum += k;
    }
    if (count % 10 != 0)
        printf("\n");
    printf("count=%ld sum=%ld\n", count, sum);
    return 0;
}
