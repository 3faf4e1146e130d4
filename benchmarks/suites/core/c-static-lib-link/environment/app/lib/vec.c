#include <math.h>

#include "vec.h"

double vec_dot(vec3 a, vec3 b)
{
    return a.x * b.x + a.y * b.y + a.z * b.z;
}

double vec_norm(vec3 a)
{
    return sqrt(vec_dot(a, a));
}

vec3 vec_cross(vec3 a, vec3 b)
{
    vec3 r = {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
    return r;
}
