/* checksum FILE...: print the Adler-32 of each file as "%08x  NAME".
 * checksum --self-test: check the implementation against a known value. */
#include <stdio.h>
#include <string.h>

#include "adler.h"

static int self_test(void)
{
    const char *s = "Wikipedia";
    if (adler32((const unsigned char *)s, strlen(s), 1) != 0x11E60398u) {
        fprintf(stderr, "self-test FAILED\n");
        return 1;
    }
    printf("self-test ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    unsigned char buf[8192];
    int status = 0;
    if (argc == 2 && strcmp(argv[1], "--self-test") == 0)
        return self_test();
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            status = 1;
            continue;
        }
        uint32_t sum = 1;
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            sum = adler32(buf, n, sum);
        fclose(f);
        printf("%08x  %s\n", (unsigned)sum, argv[i]);
    }
    return status;
}
