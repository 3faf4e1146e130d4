#include "adler.h"

#define MOD_ADLER 65521u

/* state is 1 for a fresh checksum; pass the previous result to continue it */
uint32_t adler32(const unsigned char *data, size_t len, uint32_t state)
{
    uint32_t a = state & 0xffff, b = state >> 16;
    for (size_t i = 0; i < len; i++) {
        a = (a + data[i]) % MOD_ADLER;
        b = (b + a) % MOD_ADLER;
    }
    return (b << 16) | a;
}
