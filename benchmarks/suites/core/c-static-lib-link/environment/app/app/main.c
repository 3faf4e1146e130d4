/* toolkit-demo FILE: run the commands in FILE, one per line:
 *   norm X Y Z            -> the vector's length
 *   cross X1 Y1 Z1 X2 Y2 Z2 -> the cross product
 *   rev WORD              -> WORD reversed
 *   vowels WORD           -> the number of vowels in WORD
 */
#include <stdio.h>
#include <string.h>

#include "strutil.h"
#include "vec.h"

int main(int argc, char **argv)
{
    char line[512], word[256];
    vec3 a, b;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "norm %lf %lf %lf", &a.x, &a.y, &a.z) == 3) {
            printf("norm %.4f\n", vec_norm(a));
        } else if (sscanf(line, "cross %lf %lf %lf %lf %lf %lf", &a.x, &a.y, &a.z, &b.x, &b.y, &b.z) == 6) {
            vec3 c = vec_cross(a, b);
            printf("cross %.1f %.1f %.1f\n", c.x, c.y, c.z);
        } else if (sscanf(line, "rev %255s", word) == 1) {
            printf("rev %s\n", str_reverse(word));
        } else if (sscanf(line, "vowels %255s", word) == 1) {
            printf("vowels %zu\n", str_vowels(word));
        } else if (strspn(line, " \t\r\n") != strlen(line)) {
            printf("unknown\n");
        }
    }
    fclose(f);
    return 0;
}
