#ifndef TOOLKIT_VEC_H
#define TOOLKIT_VEC_H

typedef struct {
    double x, y, z;
} vec3;

double vec_dot(vec3 a, vec3 b);
double vec_norm(vec3 a);
vec3 vec_cross(vec3 a, vec3 b);

#endif
