#ifndef UTIL_H
#define UTIL_H

#define FRAME_CHAR '*'

void print_framed(const char *text, int n);

#endif
