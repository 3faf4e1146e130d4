/* wordcount: print the number of whitespace-separated words on stdin. */
#include <ctype.h>
#include <stdio.h>

int main(void)
{
    long words = 0;
    int c, inword = 0;
    while ((c = getchar()) != EOF) {
        if (isspace(c)) {
            inword = 0;
        } else if (!inword) {
            inword = 1;
            words++;
        }
    }
    printf("%ld\n", words);
    return 0;
}
