/* greet NAME COUNT: greet NAME COUNT times, then print a djb2 checksum of NAME. */
#include <stdio.h>
#include <stdlib.h>

static unsigned long djb2(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = ((h << 5) + h) + (unsigned char)*s;
    return h % 100000;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[2]);
    for (int i = 1; i <= count; i++)
        printf("Hello, %s! (%d/%d)\n", argv[1], i, count);
    printf("checksum=%lu\n", djb2(argv[1]));
    return 0;
}
