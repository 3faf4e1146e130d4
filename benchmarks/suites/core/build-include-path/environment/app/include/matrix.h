#ifndef MATRIX_H
#define MATRIX_H

#define MATRIX_MAX 8

typedef struct {
    int n;
    long long a[MATRIX_MAX][MATRIX_MAX];
} matrix;

int matrix_read(matrix *m, const char *path);
long long matrix_det(const matrix *m);
long long matrix_trace(const matrix *m);
void matrix_transpose(const matrix *m, matrix *out);

#endif
