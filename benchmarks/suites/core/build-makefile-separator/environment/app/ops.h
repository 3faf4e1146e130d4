#ifndef OPS_H
#define OPS_H

long op_gcd(long a, long b);
long op_lcm(long a, long b);
long op_pow(long base, unsigned exp);

#endif
