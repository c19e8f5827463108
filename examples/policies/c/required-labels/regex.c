/* The matcher of regex.h: parse to a syntax tree, emit NFA code, run a Pike VM. */
#include "regex.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep a hostile pattern from exhausting memory. */
#define MAX_PROGRAM 20000
#define MAX_REPEAT 1000
#define MAX_DEPTH 200
/* Code generation recurses once per nested group and alternative; this
   keeps it well inside the wasm stack. */
#define MAX_PATTERN 1024

/* ---- character classes ---- */

typedef struct {
    uint32_t lo, hi;
} range;

typedef struct {
    range *ranges;
    size_t count;
    bool negated;
} class;

static bool class_add(class *c, uint32_t lo, uint32_t hi) {
    range *ranges = realloc(c->ranges, (c->count + 1) * sizeof *ranges);
    if (!ranges) return false;
    c->ranges = ranges;
    c->ranges[c->count++] = (range){lo, hi};
    return true;
}

static bool class_matches(const class *c, uint32_t ch) {
    bool in = false;
    for (size_t i = 0; i < c->count && !in; i++) in = c->ranges[i].lo <= ch && ch <= c->ranges[i].hi;
    return in != c->negated;
}

/* ---- syntax tree ---- */

typedef enum { N_EMPTY, N_CHAR, N_ANY, N_CLASS, N_CAT, N_ALT, N_REPEAT, N_BOL, N_EOL } node_type;

typedef struct node node;
struct node {
    node_type type;
    uint32_t ch;     /* N_CHAR */
    size_t cls;      /* N_CLASS: index into the class table */
    node *a, *b;     /* N_CAT, N_ALT: both; N_REPEAT: a */
    int min, max;    /* N_REPEAT; max -1 for unbounded */
};

/* ---- program ---- */

typedef enum { I_CHAR, I_ANY, I_CLASS, I_SPLIT, I_JMP, I_MATCH, I_BOL, I_EOL } op;

typedef struct {
    op op;
    uint32_t ch;
    size_t cls;
    size_t x, y; /* jump targets */
} inst;

struct regex {
    inst *code;
    size_t len;
    class *classes;
    size_t class_count;
};

typedef struct {
    const char *p;     /* the rest of the pattern */
    char *error;
    size_t error_size;
    bool failed;
    int depth;
    regex *re;         /* owns the class table while parsing */
    node **nodes;      /* every node allocated, freed after emitting */
    size_t node_count;
} parser;

static void fail(parser *ps, const char *what) {
    if (ps->failed) return;
    ps->failed = true;
    text_copy(ps->error, ps->error_size, what);
}

static node *new_node(parser *ps, node_type type) {
    node **nodes = realloc(ps->nodes, (ps->node_count + 1) * sizeof *nodes);
    node *n = calloc(1, sizeof *n);
    if (!nodes || !n) {
        free(n);
        if (nodes) ps->nodes = nodes;
        fail(ps, "out of memory");
        return NULL;
    }
    ps->nodes = nodes;
    ps->nodes[ps->node_count++] = n;
    n->type = type;
    return n;
}

/* Decode one UTF-8 code point; invalid bytes read as themselves. */
static uint32_t next_char(const char **s) {
    const unsigned char *u = (const unsigned char *)*s;
    uint32_t c = u[0];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    uint32_t cp = extra == 3 ? c & 0x07 : extra == 2 ? c & 0x0F : extra == 1 ? c & 0x1F : c;
    for (int i = 1; i <= extra; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *s += 1;
            return c;
        }
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    *s += 1 + extra;
    return cp;
}

static size_t new_class(parser *ps) {
    regex *re = ps->re;
    class *classes = realloc(re->classes, (re->class_count + 1) * sizeof *classes);
    if (!classes) {
        fail(ps, "out of memory");
        return 0;
    }
    re->classes = classes;
    re->classes[re->class_count] = (class){NULL, 0, false};
    return re->class_count++;
}

/* Add the ranges of `\d \w \s` (or their negations) to `c`. */
static bool add_perl_class(parser *ps, class *c, char letter) {
    bool ok = true;
    switch (letter) {
    case 'd': ok = class_add(c, '0', '9'); break;
    case 'w':
        ok = class_add(c, '0', '9') && class_add(c, 'A', 'Z') && class_add(c, '_', '_') &&
             class_add(c, 'a', 'z');
        break;
    case 's': ok = class_add(c, '\t', '\r') && class_add(c, ' ', ' '); break;
    case 'D': ok = class_add(c, 0, '0' - 1) && class_add(c, '9' + 1, 0x10FFFF); break;
    case 'W':
        ok = class_add(c, 0, '0' - 1) && class_add(c, '9' + 1, 'A' - 1) &&
             class_add(c, 'Z' + 1, '_' - 1) && class_add(c, '_' + 1, 'a' - 1) &&
             class_add(c, 'z' + 1, 0x10FFFF);
        break;
    case 'S': ok = class_add(c, 0, '\t' - 1) && class_add(c, '\r' + 1, ' ' - 1) && class_add(c, ' ' + 1, 0x10FFFF); break;
    }
    if (!ok) fail(ps, "out of memory");
    return ok;
}

/*
 * After a backslash: a literal character (returned, *perl = 0) or a Perl
 * class letter (*perl = the letter).
 */
static uint32_t parse_escape(parser *ps, char *perl) {
    *perl = 0;
    char c = *ps->p;
    if (c == '\0') {
        fail(ps, "incomplete escape sequence at the end of the pattern");
        return 0;
    }
    ps->p++;
    if (strchr("dDwWsS", c)) {
        *perl = c;
        return 0;
    }
    if (c == 'n') return '\n';
    if (c == 't') return '\t';
    if (c == 'r') return '\r';
    if (strchr("\\.+*?()[]{}|^$-/ #&~", c)) return (uint32_t)c;
    fail(ps, "unsupported escape sequence");
    return 0;
}

static node *parse_class(parser *ps) {
    size_t index = new_class(ps);
    if (ps->failed) return NULL;
    class *c = &ps->re->classes[index];
    if (*ps->p == '^') {
        c->negated = true;
        ps->p++;
    }
    if (*ps->p == '[' && ps->p[1] == ':') {
        fail(ps, "POSIX character classes ([[:name:]]) are not supported");
        return NULL;
    }
    bool first = true;
    while (*ps->p != ']' || first) {
        if (*ps->p == '\0') {
            fail(ps, "unclosed character class");
            return NULL;
        }
        first = false;
        uint32_t lo;
        if (*ps->p == '\\') {
            ps->p++;
            char perl;
            lo = parse_escape(ps, &perl);
            if (ps->failed) return NULL;
            if (perl) {
                if (!add_perl_class(ps, c, perl)) return NULL;
                continue;
            }
        } else if (*ps->p == '[') {
            fail(ps, "nested character classes are not supported");
            return NULL;
        } else {
            lo = next_char(&ps->p);
        }
        uint32_t hi = lo;
        if (*ps->p == '-' && ps->p[1] != ']' && ps->p[1] != '\0') {
            ps->p++;
            if (*ps->p == '\\') {
                ps->p++;
                char perl;
                hi = parse_escape(ps, &perl);
                if (ps->failed) return NULL;
                if (perl) {
                    fail(ps, "invalid range in a character class");
                    return NULL;
                }
            } else {
                hi = next_char(&ps->p);
            }
            if (hi < lo) {
                fail(ps, "invalid range in a character class (start is after end)");
                return NULL;
            }
        }
        if (!class_add(c, lo, hi)) {
            fail(ps, "out of memory");
            return NULL;
        }
    }
    ps->p++; /* ] */
    node *n = new_node(ps, N_CLASS);
    if (n) n->cls = index;
    return n;
}

static node *parse_alt(parser *ps);

static node *parse_atom(parser *ps) {
    char c = *ps->p;
    if (c == '(') {
        ps->p++;
        if (*ps->p == '?') {
            if (ps->p[1] != ':') {
                fail(ps, "flags and named groups are not supported (only (?:...))");
                return NULL;
            }
            ps->p += 2;
        }
        if (++ps->depth > MAX_DEPTH) {
            fail(ps, "pattern nests too deeply");
            return NULL;
        }
        node *inner = parse_alt(ps);
        ps->depth--;
        if (ps->failed) return NULL;
        if (*ps->p != ')') {
            fail(ps, "unclosed group");
            return NULL;
        }
        ps->p++;
        return inner;
    }
    if (c == '[') {
        ps->p++;
        return parse_class(ps);
    }
    if (c == '.') {
        ps->p++;
        return new_node(ps, N_ANY);
    }
    if (c == '^' || c == '$') {
        ps->p++;
        return new_node(ps, c == '^' ? N_BOL : N_EOL);
    }
    if (c == '\\') {
        ps->p++;
        char perl;
        uint32_t ch = parse_escape(ps, &perl);
        if (ps->failed) return NULL;
        if (perl) {
            size_t index = new_class(ps);
            if (ps->failed || !add_perl_class(ps, &ps->re->classes[index], perl)) return NULL;
            node *n = new_node(ps, N_CLASS);
            if (n) n->cls = index;
            return n;
        }
        node *n = new_node(ps, N_CHAR);
        if (n) n->ch = ch;
        return n;
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') {
        fail(ps, "repetition operator missing expression");
        return NULL;
    }
    if (c == ')') {
        fail(ps, "unopened group");
        return NULL;
    }
    node *n = new_node(ps, N_CHAR);
    if (n) n->ch = next_char(&ps->p);
    return n;
}

/* A decimal number of at most MAX_REPEAT; -1 if there is none. */
static int parse_count(parser *ps) {
    if (*ps->p < '0' || *ps->p > '9') return -1;
    long value = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        value = value * 10 + (*ps->p++ - '0');
        if (value > MAX_REPEAT) {
            fail(ps, "repetition count is too large");
            return -1;
        }
    }
    return (int)value;
}

static node *parse_repeat(parser *ps) {
    node *atom = parse_atom(ps);
    while (!ps->failed) {
        int min, max;
        char c = *ps->p;
        if (c == '*') {
            min = 0, max = -1;
        } else if (c == '+') {
            min = 1, max = -1;
        } else if (c == '?') {
            min = 0, max = 1;
        } else if (c == '{') {
            ps->p++;
            min = parse_count(ps);
            if (min < 0) {
                fail(ps, "invalid repetition count");
                return NULL;
            }
            max = min;
            if (*ps->p == ',') {
                ps->p++;
                max = *ps->p == '}' ? -1 : parse_count(ps);
                if (ps->failed || (max < 0 && *ps->p != '}')) {
                    fail(ps, "invalid repetition count");
                    return NULL;
                }
            }
            if (*ps->p != '}') {
                fail(ps, "unclosed repetition count");
                return NULL;
            }
            if (max >= 0 && max < min) {
                fail(ps, "invalid repetition range (minimum is above maximum)");
                return NULL;
            }
        } else {
            break;
        }
        ps->p++;
        if (*ps->p == '?') ps->p++; /* lazy: the same for a whole match */
        if (atom->type == N_BOL || atom->type == N_EOL) {
            fail(ps, "repetition of an anchor");
            return NULL;
        }
        node *n = new_node(ps, N_REPEAT);
        if (!n) return NULL;
        n->a = atom;
        n->min = min;
        n->max = max;
        atom = n;
    }
    return ps->failed ? NULL : atom;
}

static node *parse_concat(parser *ps) {
    node *result = NULL;
    while (!ps->failed && *ps->p != '\0' && *ps->p != '|' && *ps->p != ')') {
        node *next = parse_repeat(ps);
        if (!next) return NULL;
        if (!result) {
            result = next;
        } else {
            node *cat = new_node(ps, N_CAT);
            if (!cat) return NULL;
            cat->a = result;
            cat->b = next;
            result = cat;
        }
    }
    return result ? result : new_node(ps, N_EMPTY);
}

static node *parse_alt(parser *ps) {
    node *left = parse_concat(ps);
    while (!ps->failed && *ps->p == '|') {
        ps->p++;
        node *right = parse_concat(ps);
        node *alt = new_node(ps, N_ALT);
        if (!right || !alt) return NULL;
        alt->a = left;
        alt->b = right;
        left = alt;
    }
    return ps->failed ? NULL : left;
}

/* ---- code generation ---- */

static size_t emit(parser *ps, op op) {
    regex *re = ps->re;
    if (re->len >= MAX_PROGRAM) {
        fail(ps, "pattern is too large once repetitions are expanded");
        return 0;
    }
    inst *code = realloc(re->code, (re->len + 1) * sizeof *code);
    if (!code) {
        fail(ps, "out of memory");
        return 0;
    }
    re->code = code;
    re->code[re->len] = (inst){op, 0, 0, 0, 0};
    return re->len++;
}

static void gen(parser *ps, const node *n) {
    if (ps->failed) return;
    regex *re = ps->re;
    size_t at, loop;
    switch (n->type) {
    case N_EMPTY: break;
    case N_CHAR:
        at = emit(ps, I_CHAR);
        if (!ps->failed) re->code[at].ch = n->ch;
        break;
    case N_ANY: emit(ps, I_ANY); break;
    case N_CLASS:
        at = emit(ps, I_CLASS);
        if (!ps->failed) re->code[at].cls = n->cls;
        break;
    case N_BOL: emit(ps, I_BOL); break;
    case N_EOL: emit(ps, I_EOL); break;
    case N_CAT: {
        /* A long concatenation is a deep left chain: walk it, not recurse. */
        size_t count = 0;
        for (const node *c = n; c->type == N_CAT; c = c->a) count++;
        const node **right = calloc(count, sizeof *right);
        if (!right) {
            fail(ps, "out of memory");
            return;
        }
        const node *c = n;
        for (size_t i = count; i-- > 0; c = c->a) right[i] = c->b;
        gen(ps, c);
        for (size_t i = 0; i < count; i++) gen(ps, right[i]);
        free(right);
        break;
    }
    case N_ALT: {
        size_t split = emit(ps, I_SPLIT);
        gen(ps, n->a);
        size_t jmp = emit(ps, I_JMP);
        if (ps->failed) return;
        re->code[split].x = split + 1;
        re->code[split].y = re->len;
        gen(ps, n->b);
        if (ps->failed) return;
        re->code[jmp].x = re->len;
        break;
    }
    case N_REPEAT:
        for (int i = 0; i < n->min; i++) gen(ps, n->a);
        if (n->max < 0) {
            /* loop: split body, out; body; jmp loop */
            loop = emit(ps, I_SPLIT);
            gen(ps, n->a);
            at = emit(ps, I_JMP);
            if (ps->failed) return;
            re->code[at].x = loop;
            re->code[loop].x = loop + 1;
            re->code[loop].y = re->len;
        } else {
            /* (max - min) optional copies, each skipping to the end */
            size_t optional = (size_t)(n->max - n->min);
            size_t *splits = calloc(optional ? optional : 1, sizeof *splits);
            if (!splits) {
                fail(ps, "out of memory");
                return;
            }
            for (size_t i = 0; i < optional && !ps->failed; i++) {
                splits[i] = emit(ps, I_SPLIT);
                gen(ps, n->a);
            }
            for (size_t i = 0; i < optional && !ps->failed; i++) {
                re->code[splits[i]].x = splits[i] + 1;
                re->code[splits[i]].y = re->len;
            }
            free(splits);
        }
        break;
    }
}

void regex_free(regex *re) {
    if (!re) return;
    for (size_t i = 0; i < re->class_count; i++) free(re->classes[i].ranges);
    free(re->classes);
    free(re->code);
    free(re);
}

regex *regex_compile(const char *pattern, char *error, size_t error_size) {
    regex *re = calloc(1, sizeof *re);
    if (!re) {
        text_copy(error, error_size, "out of memory");
        return NULL;
    }
    if (strlen(pattern) > MAX_PATTERN) {
        text_copy(error, error_size, "pattern is longer than 1024 bytes");
        regex_free(re);
        return NULL;
    }
    parser ps = {pattern, error, error_size, false, 0, re, NULL, 0};
    node *root = parse_alt(&ps);
    if (!ps.failed && *ps.p == ')') fail(&ps, "unopened group");
    if (!ps.failed && root) {
        gen(&ps, root);
        emit(&ps, I_MATCH);
    }
    for (size_t i = 0; i < ps.node_count; i++) free(ps.nodes[i]);
    free(ps.nodes);
    if (ps.failed) {
        regex_free(re);
        return NULL;
    }
    return re;
}

/* ---- matching (Pike VM) ---- */

typedef struct {
    size_t *pcs;
    size_t count;
    size_t *seen; /* seen[pc] == generation when pc is in the list */
} thread_list;

/* Follow jumps, splits and anchors from `pc`, adding the threads that
   consume a character (or match) to `list`. Iterative, with a stack. */
static void add_thread(const regex *re, thread_list *list, size_t generation, size_t pc,
                       size_t *stack, bool at_start, bool at_end) {
    size_t top = 0;
    stack[top++] = pc;
    while (top > 0) {
        pc = stack[--top];
        if (list->seen[pc] == generation) continue;
        list->seen[pc] = generation;
        const inst *in = &re->code[pc];
        switch (in->op) {
        case I_JMP: stack[top++] = in->x; break;
        case I_SPLIT:
            stack[top++] = in->y;
            stack[top++] = in->x;
            break;
        case I_BOL:
            if (at_start) stack[top++] = pc + 1;
            break;
        case I_EOL:
            if (at_end) stack[top++] = pc + 1;
            break;
        default: list->pcs[list->count++] = pc;
        }
    }
}

bool regex_full_match(const regex *re, const char *text, size_t len) {
    size_t n = re->len;
    size_t *memory = calloc(6 * n + 2, sizeof *memory);
    if (!memory) return false;
    thread_list lists[2] = {{memory, 0, memory + n}, {memory + 2 * n, 0, memory + 3 * n}};
    size_t *stack = memory + 4 * n; /* each pc is pushed at most twice per pass */
    size_t generation = 1;
    const char *s = text, *end = text + len;
    thread_list *current = &lists[0], *next = &lists[1];
    add_thread(re, current, generation, 0, stack, true, s == end);
    bool matched = false;
    for (;;) {
        if (s == end) {
            for (size_t i = 0; i < current->count; i++)
                if (re->code[current->pcs[i]].op == I_MATCH) matched = true;
            break;
        }
        if (current->count == 0) break;
        uint32_t ch = next_char(&s);
        if (s > end) s = end;
        generation++;
        next->count = 0;
        for (size_t i = 0; i < current->count; i++) {
            const inst *in = &re->code[current->pcs[i]];
            bool step = (in->op == I_CHAR && in->ch == ch) || (in->op == I_ANY && ch != '\n') ||
                        (in->op == I_CLASS && class_matches(&re->classes[in->cls], ch));
            if (step) add_thread(re, next, generation, current->pcs[i] + 1, stack, false, s == end);
        }
        thread_list *swap = current;
        current = next;
        next = swap;
    }
    free(memory);
    return matched;
}
