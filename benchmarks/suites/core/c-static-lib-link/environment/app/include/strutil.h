#ifndef TOOLKIT_STRUTIL_H
#define TOOLKIT_STRUTIL_H

#include <stddef.h>

/* reverse s in place; returns s */
char *str_reverse(char *s);
/* number of vowels (aeiou, either case) in s */
size_t str_vowels(const char *s);

#endif
