#include "ops.h"

long op_gcd(long a, long b)
{
    if (a < 0)
        a = -a;
    if (b < 0)
        b = -b;
    while (b != 0) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

long op_lcm(long a, long b)
{
    if (a == 0 || b == 0)
        return 0;
    long l = a / op_gcd(a, b) * b;
    return l < 0 ? -l : l;
}

long op_pow(long base, unsigned exp)
{
    long r = 1;
    while (exp--)
        r *= base;
    return r;
}
