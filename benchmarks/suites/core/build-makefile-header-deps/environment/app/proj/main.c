#include <stdio.h>

#include "config.h"
#include "util.h"

int main(void)
{
    for (int i = 0; i < REPEAT; i++)
        print_framed(GREETING, i + 1);
    printf("%c%c%c %d lines\n", FRAME_CHAR, FRAME_CHAR, FRAME_CHAR, REPEAT);
    return 0;
}
