/*
 * A small regular-expression matcher for label value patterns, written for
 * this policy (wasi-libc has no <regex.h>). Patterns compile to a Thompson
 * NFA that is simulated as a Pike VM: matching takes time linear in the
 * length of the text times the size of the pattern, never exponential,
 * like Rust's regex-lite that the Rust version of the policy uses.
 *
 * The syntax is the common subset of regex-lite (Rust) syntax:
 *   literals; `.` (any character but newline); escapes of the
 *   metacharacters `\\ \. \+ \* \? \( \) \[ \] \{ \} \| \^ \$ \-`;
 *   `\n \t \r`; `\d \D \w \W \s \S` (ASCII); classes `[a-z0-9_]`, `[^...]`
 *   (which may contain the escapes above); groups `(...)` and `(?:...)`;
 *   alternation `|`; repetition `* + ? {n} {n,} {n,m}` (a trailing `?`
 *   for laziness is accepted and changes nothing for a whole match);
 *   `^` and `$` (start and end of the text).
 * Anything else (flags such as `(?i)`, named groups, `\p{..}`, `\b`,
 * POSIX classes `[[:alpha:]]`) is refused with an error rather than read
 * differently. Characters are Unicode code points of UTF-8 text.
 *
 * Bounds: patterns of at most 1024 bytes, groups nested at most 200 deep,
 * counts at most 1000, and at most 20000 NFA instructions once counted
 * repetitions are expanded.
 */
#ifndef PLUMBLINE_REGEX_H
#define PLUMBLINE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct regex regex;

/*
 * Compile `pattern` (NUL-terminated UTF-8). On failure returns NULL and
 * writes the reason (e.g. "unclosed group") into `error`.
 */
regex *regex_compile(const char *pattern, char *error, size_t error_size);

/* Whether the pattern matches all of `text` (as if written `^(?:p)$`). */
bool regex_full_match(const regex *re, const char *text, size_t len);

/* Free a compiled pattern (NULL is fine). */
void regex_free(regex *re);

#endif
