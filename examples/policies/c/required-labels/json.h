/*
 * A small JSON reader: parses RFC 8259 text into a tree of `json_value`s.
 * Written for this policy (no third-party code). Strings are decoded to
 * UTF-8 (escapes, surrogate pairs); numbers keep their text as written.
 * Nesting deeper than JSON_MAX_DEPTH is refused, like serde_json's limit.
 * Memory comes from malloc; json_free releases a whole tree.
 */
#ifndef PLUMBLINE_JSON_H
#define PLUMBLINE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 128

typedef enum {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;

/* One object member: a decoded key and its value. */
typedef struct {
    char *key;
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    bool boolean;        /* JSON_BOOL */
    char *text;          /* JSON_STRING: decoded, NUL-terminated;
                            JSON_NUMBER: the number as written */
    size_t len;          /* length of text */
    size_t count;        /* JSON_ARRAY items, JSON_OBJECT members */
    json_value **items;  /* JSON_ARRAY */
    json_member *members; /* JSON_OBJECT, in document order */
};

/*
 * Parse `len` bytes of JSON. On failure returns NULL and writes a message
 * such as "expected `:` at line 1 column 9" into `error`.
 */
json_value *json_parse(const char *text, size_t len, char *error, size_t error_size);

/* Free a tree returned by json_parse (NULL is fine). */
void json_free(json_value *value);

/*
 * The value of `key` in an object; the last one when the key is repeated
 * (as serde_json keeps it). NULL when `object` is not an object or has no
 * such key.
 */
const json_value *json_get(const json_value *object, const char *key);

/* "null", "a boolean", "a number", "a string", "a list", "an object". */
const char *json_type_name(const json_value *value);

/*
 * Write `value` as compact JSON into a new malloc'd, NUL-terminated
 * string (for messages). NULL when out of memory.
 */
char *json_serialize(const json_value *value);

#endif
