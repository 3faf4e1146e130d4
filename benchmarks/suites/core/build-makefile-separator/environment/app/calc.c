/* calc A B: print gcd(A,B), lcm(A,B) and A to the power (abs(B) mod 8). */
#include <stdio.h>
#include <stdlib.h>

#include "ops.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s A B\n", argv[0]);
        return 2;
    }
    long a = atol(argv[1]), b = atol(argv[2]);
    printf("gcd=%ld\n", op_gcd(a, b));
    printf("lcm=%ld\n", op_lcm(a, b));
    printf("pow=%ld\n", op_pow(a, (unsigned)labs(b) % 8));
    return 0;
}
