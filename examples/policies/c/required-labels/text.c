/* The string helpers of text.h. */
#include "text.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

char *text_cat(const char *first, ...) {
    va_list args;
    size_t len = 0;
    va_start(args, first);
    for (const char *s = first; s; s = va_arg(args, const char *)) len += strlen(s);
    va_end(args);
    char *out = malloc(len + 1);
    if (!out) return NULL;
    char *at = out;
    va_start(args, first);
    for (const char *s = first; s; s = va_arg(args, const char *)) {
        size_t n = strlen(s);
        memcpy(at, s, n);
        at += n;
    }
    va_end(args);
    *at = '\0';
    return out;
}

const char *text_number(size_t n, char buffer[21]) {
    char *at = buffer + 20;
    *at = '\0';
    do {
        *--at = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    return at;
}

char *text_slice(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

void text_copy(char *dst, size_t size, const char *src) {
    if (size == 0) return;
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
