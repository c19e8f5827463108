/* The JSON reader of json.h: a recursive-descent parser over bytes. */
#include "json.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t len;
    size_t pos;
    char *error;
    size_t error_size;
    bool failed;
} parser;

/* Growable byte buffer, used for strings and serialisation. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} buffer;

static void buffer_push(buffer *b, const char *bytes, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->oom = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buffer_byte(buffer *b, char c) { buffer_push(b, &c, 1); }

/* Record the first error with its line and column (1-based, in bytes). */
static void fail(parser *p, const char *what) {
    if (p->failed) return;
    p->failed = true;
    size_t line = 1, column = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->text[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    char l[21], c[21];
    char *message = CAT(what, " at line ", text_number(line, l), " column ", text_number(column, c));
    text_copy(p->error, p->error_size, message ? message : what);
    free(message);
}

static void skip_space(parser *p) {
    while (p->pos < p->len) {
        char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) {
        fail(p, "expected a value");
        return false;
    }
    p->pos += n;
    return true;
}

static json_value *new_value(json_type type) {
    json_value *v = calloc(1, sizeof *v);
    if (v) v->type = type;
    return v;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after `\u`; -1 if malformed. */
static long hex4(parser *p) {
    if (p->len - p->pos < 4) return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p->text[p->pos + i]);
        if (d < 0) return -1;
        value = value * 16 + d;
    }
    p->pos += 4;
    return value;
}

static void push_utf8(buffer *b, uint32_t cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buffer_push(b, out, n);
}

/* A string starting at the opening quote; the decoded text goes to `out`. */
static bool parse_string(parser *p, buffer *out) {
    p->pos++; /* the opening quote */
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            p->pos++;
            buffer_push(out, "", 0);
            return !out->oom;
        }
        if (c < 0x20) {
            fail(p, "control character in a string");
            return false;
        }
        if (c != '\\') {
            size_t start = p->pos;
            while (p->pos < p->len && p->text[p->pos] != '"' && p->text[p->pos] != '\\' &&
                   (unsigned char)p->text[p->pos] >= 0x20)
                p->pos++;
            buffer_push(out, p->text + start, p->pos - start);
            continue;
        }
        p->pos++;
        if (p->pos >= p->len) break;
        char e = p->text[p->pos++];
        switch (e) {
        case '"': buffer_byte(out, '"'); break;
        case '\\': buffer_byte(out, '\\'); break;
        case '/': buffer_byte(out, '/'); break;
        case 'b': buffer_byte(out, '\b'); break;
        case 'f': buffer_byte(out, '\f'); break;
        case 'n': buffer_byte(out, '\n'); break;
        case 'r': buffer_byte(out, '\r'); break;
        case 't': buffer_byte(out, '\t'); break;
        case 'u': {
            long cp = hex4(p);
            if (cp < 0) {
                fail(p, "invalid \\u escape");
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long low = -1;
                if (p->len - p->pos >= 2 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u') {
                    p->pos += 2;
                    low = hex4(p);
                }
                if (low < 0xDC00 || low > 0xDFFF) {
                    fail(p, "lone leading surrogate in a \\u escape");
                    return false;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(p, "lone trailing surrogate in a \\u escape");
                return false;
            }
            push_utf8(out, (uint32_t)cp);
            break;
        }
        default:
            p->pos--;
            fail(p, "invalid escape");
            return false;
        }
    }
    fail(p, "EOF while parsing a string");
    return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static json_value *parse_number(parser *p) {
    size_t start = p->pos;
    if (p->text[p->pos] == '-') p->pos++;
    if (p->pos < p->len && p->text[p->pos] == '0') {
        p->pos++;
    } else if (p->pos < p->len && is_digit(p->text[p->pos])) {
        while (p->pos < p->len && is_digit(p->text[p->pos])) p->pos++;
    } else {
        fail(p, "invalid number");
        return NULL;
    }
    if (p->pos < p->len && p->text[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->text[p->pos])) {
            fail(p, "invalid number");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->text[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->text[p->pos])) {
            fail(p, "invalid number");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->text[p->pos])) p->pos++;
    }
    json_value *v = new_value(JSON_NUMBER);
    if (!v) return NULL;
    v->len = p->pos - start;
    v->text = malloc(v->len + 1);
    if (!v->text) {
        free(v);
        return NULL;
    }
    memcpy(v->text, p->text + start, v->len);
    v->text[v->len] = '\0';
    return v;
}

static json_value *parse_value(parser *p, int depth);

static json_value *parse_array(parser *p, int depth) {
    json_value *v = new_value(JSON_ARRAY);
    if (!v) return NULL;
    size_t cap = 0;
    p->pos++; /* [ */
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == ']') {
        p->pos++;
        return v;
    }
    for (;;) {
        json_value *item = parse_value(p, depth + 1);
        if (!item) break;
        if (v->count == cap) {
            cap = cap ? cap * 2 : 4;
            json_value **items = realloc(v->items, cap * sizeof *items);
            if (!items) {
                json_free(item);
                break;
            }
            v->items = items;
        }
        v->items[v->count++] = item;
        skip_space(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->text[p->pos] == ']') {
            p->pos++;
            return v;
        }
        fail(p, p->pos < p->len ? "expected `,` or `]`" : "EOF while parsing a list");
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *parse_object(parser *p, int depth) {
    json_value *v = new_value(JSON_OBJECT);
    if (!v) return NULL;
    size_t cap = 0;
    p->pos++; /* { */
    skip_space(p);
    if (p->pos < p->len && p->text[p->pos] == '}') {
        p->pos++;
        return v;
    }
    for (;;) {
        skip_space(p);
        if (p->pos >= p->len || p->text[p->pos] != '"') {
            fail(p, p->pos < p->len ? "key must be a string" : "EOF while parsing an object");
            break;
        }
        buffer key = {0};
        if (!parse_string(p, &key)) {
            free(key.data);
            break;
        }
        skip_space(p);
        if (p->pos >= p->len || p->text[p->pos] != ':') {
            free(key.data);
            fail(p, "expected `:`");
            break;
        }
        p->pos++;
        json_value *value = parse_value(p, depth + 1);
        if (!value) {
            free(key.data);
            break;
        }
        if (v->count == cap) {
            cap = cap ? cap * 2 : 4;
            json_member *members = realloc(v->members, cap * sizeof *members);
            if (!members) {
                free(key.data);
                json_free(value);
                break;
            }
            v->members = members;
        }
        v->members[v->count++] = (json_member){key.data, key.len, value};
        skip_space(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->text[p->pos] == '}') {
            p->pos++;
            return v;
        }
        fail(p, p->pos < p->len ? "expected `,` or `}`" : "EOF while parsing an object");
        break;
    }
    json_free(v);
    return NULL;
}

static json_value *parse_value(parser *p, int depth) {
    if (depth > JSON_MAX_DEPTH) {
        fail(p, "recursion limit exceeded");
        return NULL;
    }
    skip_space(p);
    if (p->pos >= p->len) {
        fail(p, "EOF while parsing a value");
        return NULL;
    }
    json_value *v = NULL;
    switch (p->text[p->pos]) {
    case 'n':
        if (literal(p, "null")) v = new_value(JSON_NULL);
        break;
    case 't':
        if (literal(p, "true") && (v = new_value(JSON_BOOL))) v->boolean = true;
        break;
    case 'f':
        if (literal(p, "false")) v = new_value(JSON_BOOL);
        break;
    case '"': {
        buffer text = {0};
        if (parse_string(p, &text) && (v = new_value(JSON_STRING))) {
            v->text = text.data;
            v->len = text.len;
        } else {
            free(text.data);
        }
        break;
    }
    case '[': v = parse_array(p, depth); break;
    case '{': v = parse_object(p, depth); break;
    default:
        if (p->text[p->pos] == '-' || is_digit(p->text[p->pos])) {
            v = parse_number(p);
        } else {
            fail(p, "expected a value");
        }
    }
    if (!v) fail(p, "out of memory");
    return v;
}

json_value *json_parse(const char *text, size_t len, char *error, size_t error_size) {
    parser p = {text, len, 0, error, error_size, false};
    json_value *v = parse_value(&p, 0);
    if (v) {
        skip_space(&p);
        if (p.pos != p.len) {
            fail(&p, "trailing characters");
            json_free(v);
            v = NULL;
        }
    }
    return v;
}

void json_free(json_value *v) {
    if (!v) return;
    for (size_t i = 0; i < v->count; i++) {
        if (v->type == JSON_ARRAY) {
            json_free(v->items[i]);
        } else if (v->type == JSON_OBJECT) {
            free(v->members[i].key);
            json_free(v->members[i].value);
        }
    }
    free(v->items);
    free(v->members);
    free(v->text);
    free(v);
}

const json_value *json_get(const json_value *object, const char *key) {
    if (!object || object->type != JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = object->count; i-- > 0;) {
        const json_member *m = &object->members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0) return m->value;
    }
    return NULL;
}

const char *json_type_name(const json_value *v) {
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "a list";
    case JSON_OBJECT: return "an object";
    }
    return "a value";
}

static void serialize_string(buffer *b, const char *s, size_t len) {
    buffer_byte(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buffer_byte(b, '\\');
            buffer_byte(b, (char)c);
        } else if (c < 0x20) {
            const char *hex = "0123456789abcdef";
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buffer_push(b, escape, 6);
        } else {
            buffer_byte(b, (char)c);
        }
    }
    buffer_byte(b, '"');
}

static void serialize(buffer *b, const json_value *v) {
    switch (v->type) {
    case JSON_NULL: buffer_push(b, "null", 4); break;
    case JSON_BOOL: v->boolean ? buffer_push(b, "true", 4) : buffer_push(b, "false", 5); break;
    case JSON_NUMBER: buffer_push(b, v->text, v->len); break;
    case JSON_STRING: serialize_string(b, v->text, v->len); break;
    case JSON_ARRAY:
        buffer_byte(b, '[');
        for (size_t i = 0; i < v->count; i++) {
            if (i) buffer_byte(b, ',');
            serialize(b, v->items[i]);
        }
        buffer_byte(b, ']');
        break;
    case JSON_OBJECT:
        buffer_byte(b, '{');
        for (size_t i = 0; i < v->count; i++) {
            if (i) buffer_byte(b, ',');
            serialize_string(b, v->members[i].key, v->members[i].key_len);
            buffer_byte(b, ':');
            serialize(b, v->members[i].value);
        }
        buffer_byte(b, '}');
        break;
    }
}

char *json_serialize(const json_value *v) {
    buffer b = {0};
    serialize(&b, v);
    buffer_push(&b, "", 0);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}
