#include <stdio.h>

#include "matrix.h"

int matrix_read(matrix *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (fscanf(f, "%d", &m->n) != 1 || m->n < 1 || m->n > MATRIX_MAX) {
        fclose(f);
        return -1;
    }
    for (int i = 0; i < m->n; i++)
        for (int j = 0; j < m->n; j++)
            if (fscanf(f, "%lld", &m->a[i][j]) != 1) {
                fclose(f);
                return -1;
            }
    fclose(f);
    return 0;
}

/* Bareiss fraction-free elimination: exact for integer matrices. */
long long matrix_det(const matrix *m)
{
    long long a[MATRIX_MAX][MATRIX_MAX], prev = 1;
    int n = m->n, sign = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[i][j] = m->a[i][j];
    for (int k = 0; k < n - 1; k++) {
        if (a[k][k] == 0) {
            int p = k + 1;
            while (p < n && a[p][k] == 0)
                p++;
            if (p == n)
                return 0;
            for (int j = 0; j < n; j++) {
                long long t = a[k][j];
                a[k][j] = a[p][j];
                a[p][j] = t;
            }
            sign = -sign;
        }
        for (int i = k + 1; i < n; i++)
            for (int j = k + 1; j < n; j++)
                a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) / prev;
        prev = a[k][k];
    }
    return sign * a[n - 1][n - 1];
}

long long matrix_trace(const matrix *m)
{
    long long t = 0;
    for (int i = 0; i < m->n; i++)
        t += m->a[i][i];
    return t;
}

void matrix_transpose(const matrix *m, matrix *out)
{
    out->n = m->n;
    for (int i = 0; i < m->n; i++)
        for (int j = 0; j < m->n; j++)
            out->a[j][i] = m->a[i][j];
}
