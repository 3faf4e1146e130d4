#ifndef DURATION_H
#define DURATION_H

#include <stddef.h>

/* Parse a duration such as "1h30m", "2d 4h", "45s" or "90" into seconds.
 * Returns -1 if the text is not a valid duration. */
long parse_duration(const char *text);

/* Write the canonical form of secs (e.g. "1d2h3m4s", "0s") into buf of size n.
 * Returns the length written (without the terminating NUL), or -1 if secs < 0
 * or the text does not fit in buf. */
int format_duration(long secs, char *buf, size_t n);

#endif
