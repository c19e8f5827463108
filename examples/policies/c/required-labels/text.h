/*
 * String building without <stdio.h>: printf's machinery would pull in
 * wasi-libc's file I/O, and with it WASI imports the policy does not need.
 * Without it the component imports only the host's log function.
 */
#ifndef PLUMBLINE_TEXT_H
#define PLUMBLINE_TEXT_H

#include <stddef.h>

/* The concatenation of the strings up to NULL, malloc'd (NULL if out of memory). */
char *text_cat(const char *first, ...);
#define CAT(...) text_cat(__VA_ARGS__, (const char *)NULL)

/* `n` in decimal, written into `buffer` (at least 21 bytes), which is returned. */
const char *text_number(size_t n, char buffer[21]);

/* The first `len` bytes of `s` as a new string (NULL if out of memory). */
char *text_slice(const char *s, size_t len);

/* Copy `src` into `dst` of `size` bytes, truncating, always terminated. */
void text_copy(char *dst, size_t size, const char *src);

#endif
