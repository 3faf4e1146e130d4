#include <stdio.h>

#include "util.h"

void print_framed(const char *text, int n)
{
    printf("%c %d: %s %c\n", FRAME_CHAR, n, text, FRAME_CHAR);
}
