#include <ctype.h>
#include <string.h>

#include "strutil.h"

char *str_reverse(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n / 2; i++) {
        char t = s[i];
        s[i] = s[n - 1 - i];
        s[n - 1 - i] = t;
    }
    return s;
}

size_t str_vowels(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (strchr("aeiou", tolower((unsigned char)*s)))
            n++;
    return n;
}
