/* matdemo FILE: FILE holds n, then n*n integers. Prints det, trace and the transpose. */
#include <stdio.h>

#include "matrix.h"

int main(int argc, char **argv)
{
    matrix m, t;
    if (argc != 2 || matrix_read(&m, argv[1]) != 0) {
        fprintf(stderr, "usage: matdemo FILE (n, then n*n integers, n <= %d)\n", MATRIX_MAX);
        return 2;
    }
    printf("det=%lld\n", matrix_det(&m));
    printf("trace=%lld\n", matrix_trace(&m));
    matrix_transpose(&m, &t);
    for (int i = 0; i < t.n; i++)
        for (int j = 0; j < t.n; j++)
            printf(j + 1 < t.n ? "%lld " : "%lld\n", t.a[i][j]);
    return 0;
}
