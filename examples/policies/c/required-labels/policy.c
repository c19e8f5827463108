/*
 * required-labels, in C: a validator. Every object of the desired set (or
 * only those of the kinds in `kinds`) must carry each label in `labels`;
 * where `valuePattern` gives a regular expression for a label, the label's
 * value must match it as a whole. A pattern for a label that is not
 * required is checked only when the label is present.
 *
 * The same behaviour, settings checks and messages as the Rust policy in
 * policies/required-labels (see its README), tested with the same suite.
 * The code talks to the host only through the wit-bindgen bindings of the
 * `validator-policy` world (validator_policy.h, generated at build time).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "regex.h"
#include "text.h"
#include "validator_policy.h"

#define POLICY_VERSION "0.1.0"

typedef validator_policy_string_t string_t;
typedef plumbline_policy_types_violation_t violation_t;

/* ---- small string helpers ---- */

/* Hand a malloc'd C string to the bindings (which free it after the call). */
static string_t take(char *s) {
    string_t out = {(uint8_t *)s, s ? strlen(s) : 0};
    if (out.len == 0) {
        free(s); /* the bindings free only non-empty strings */
        out.ptr = NULL;
    }
    return out;
}

static string_t copy(const char *s) {
    string_t out = {0};
    if (s && *s) validator_policy_string_dup(&out, s);
    return out;
}

static void log_line(plumbline_policy_host_level_t level, const char *message) {
    string_t text = {(uint8_t *)message, strlen(message)};
    plumbline_policy_host_log(level, &text);
}

/*
 * A key inside the map at `parent`, as the engine writes paths:
 * `metadata.labels.team`, `metadata.labels["app.kubernetes.io/name"]`
 * (quoted, with Rust's escapes, when the key contains `.`, `[` or `]`).
 */
static char *child_path(const char *parent, const char *key) {
    if (!strpbrk(key, ".[]")) return CAT(parent, ".", key);
    size_t len = strlen(key);
    char *quoted = malloc(len * 6 + 3);
    if (!quoted) return NULL;
    char *q = quoted;
    *q++ = '"';
    for (const char *k = key; *k; k++) {
        switch (*k) {
        case '"': *q++ = '\\', *q++ = '"'; break;
        case '\\': *q++ = '\\', *q++ = '\\'; break;
        case '\n': *q++ = '\\', *q++ = 'n'; break;
        case '\t': *q++ = '\\', *q++ = 't'; break;
        case '\r': *q++ = '\\', *q++ = 'r'; break;
        default:
            if ((unsigned char)*k < 0x20) {
                const char *hex = "0123456789abcdef";
                *q++ = '\\', *q++ = 'u', *q++ = '{';
                if (*k >= 16) *q++ = '1';
                *q++ = hex[*k & 15], *q++ = '}';
            } else {
                *q++ = *k;
            }
        }
    }
    *q++ = '"';
    *q = '\0';
    char *path = CAT(parent, "[", quoted, "]");
    free(quoted);
    return path;
}

/* ---- label keys (Kubernetes qualified names) ---- */

static bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_name_body(const char *s, size_t len) {
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1])) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return false;
    return true;
}

static bool is_dns_label(const char *s, size_t len) {
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-') return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool is_dns_subdomain(const char *s, size_t len) {
    if (len == 0 || len > 253) return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!is_dns_label(s + start, i - start)) return false;
            start = i + 1;
        }
    }
    return true;
}

/* NULL when `key` is a valid label key, else the reason (malloc'd). */
static char *check_qualified_name(const char *key) {
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    if (slash && !is_dns_subdomain(key, (size_t)(slash - key))) {
        char *prefix = text_slice(key, (size_t)(slash - key));
        char *reason = CAT("key `", key, "` has an invalid prefix `", prefix ? prefix : "",
                           "` (it must be a lower-case DNS subdomain of at most 253 characters)");
        free(prefix);
        return reason;
    }
    size_t len = strlen(name);
    if (len == 0 || len > 63 || !is_name_body(name, len)) {
        return CAT("key `", key,
                   "` is not a valid name (at most 63 characters: alphanumerics, `-`, `_` and "
                   "`.`, starting and ending with an alphanumeric)");
    }
    return NULL;
}

/* ---- settings ---- */

typedef struct {
    const char *label;  /* borrowed from the settings tree */
    const char *source; /* the pattern as written */
    regex *re;
} pattern;

typedef struct {
    json_value *tree;
    const json_value **labels; /* strings, in the order given */
    size_t label_count;
    pattern *patterns; /* sorted by label, as the Rust policy iterates */
    size_t pattern_count;
    const json_value *kinds; /* a list of strings, or NULL for every kind */
} config;

static const char *const KNOWN[] = {"labels", "valuePattern", "kinds"};

static void config_free(config *c) {
    for (size_t i = 0; i < c->pattern_count; i++) regex_free(c->patterns[i].re);
    free(c->patterns);
    free(c->labels);
    json_free(c->tree);
    memset(c, 0, sizeof *c);
}

/* A setting's value, treating null as absent. */
static const json_value *setting(const json_value *settings, const char *key) {
    const json_value *v = json_get(settings, key);
    return v && v->type != JSON_NULL ? v : NULL;
}

/* A list of strings: NULL when valid, else the reason (malloc'd). */
static char *check_string_list(const json_value *list, const char *name) {
    if (list->type != JSON_ARRAY)
        return CAT("settings.", name, " must be a list of strings, found ", json_type_name(list));
    for (size_t i = 0; i < list->count; i++) {
        char index[21];
        if (list->items[i]->type != JSON_STRING)
            return CAT("settings.", name, "[", text_number(i, index), "] must be a string, found ",
                       json_type_name(list->items[i]));
    }
    return NULL;
}

static int compare_patterns(const void *a, const void *b) {
    return strcmp(((const pattern *)a)->label, ((const pattern *)b)->label);
}

/*
 * Read and check the settings (JSON text) into `c`. Returns NULL on
 * success, else the message for the operator (malloc'd); the checks and
 * their order are those of the Rust policy.
 */
static char *config_parse(const char *json, size_t len, config *c) {
    memset(c, 0, sizeof *c);
    char error[200];
    c->tree = json_parse(json, len, error, sizeof error);
    if (!c->tree) return CAT("settings are not valid JSON: ", error);
    const json_value *s = c->tree;
    if (s->type == JSON_NULL) s = NULL;
    if (s && s->type != JSON_OBJECT)
        return CAT("settings must be an object, found ", json_type_name(s));

    /* The first unknown key in sorted order, as serde_json's map holds them. */
    const char *unknown = NULL;
    for (size_t i = 0; s && i < s->count; i++) {
        const char *key = s->members[i].key;
        bool known = false;
        for (size_t k = 0; k < sizeof KNOWN / sizeof *KNOWN; k++) known |= strcmp(key, KNOWN[k]) == 0;
        if (!known && (!unknown || strcmp(key, unknown) < 0)) unknown = key;
    }
    if (unknown)
        return CAT("unknown setting `", unknown, "` in settings (known: labels, valuePattern, kinds)");

    const json_value *labels = setting(s, "labels");
    if (labels) {
        char *reason = check_string_list(labels, "labels");
        if (reason) return reason;
        c->labels = calloc(labels->count + 1, sizeof *c->labels);
        if (!c->labels) return CAT("out of memory");
        for (size_t i = 0; i < labels->count; i++) {
            char *invalid = check_qualified_name(labels->items[i]->text);
            if (invalid) {
                char *message = CAT("settings.labels ", invalid);
                free(invalid);
                return message;
            }
            c->labels[c->label_count++] = labels->items[i];
        }
    }

    const json_value *patterns = setting(s, "valuePattern");
    if (patterns) {
        if (patterns->type != JSON_OBJECT)
            return CAT("settings.valuePattern must be an object of strings, found ",
                       json_type_name(patterns));
        c->patterns = calloc(patterns->count + 1, sizeof *c->patterns);
        if (!c->patterns) return CAT("out of memory");
        /* Keys in sorted order; a repeated key counts once (the last value). */
        for (size_t i = 0; i < patterns->count; i++) {
            const json_member *m = &patterns->members[i];
            if (json_get(patterns, m->key) != m->value) continue;
            c->patterns[c->pattern_count++] = (pattern){m->key, NULL, NULL};
        }
        qsort(c->patterns, c->pattern_count, sizeof *c->patterns, compare_patterns);
        for (size_t i = 0; i < c->pattern_count; i++) {
            pattern *p = &c->patterns[i];
            const json_value *value = json_get(patterns, p->label);
            char *at = child_path("settings.valuePattern", p->label);
            if (!at) return CAT("out of memory");
            if (value->type != JSON_STRING) {
                char *message = CAT(at, " must be a string, found ", json_type_name(value));
                free(at);
                return message;
            }
            p->source = value->text;
            p->re = regex_compile(value->text, error, sizeof error);
            if (!p->re) {
                char *message = CAT(at, " is not a valid regular expression: ", error);
                free(at);
                return message;
            }
            free(at);
        }
    }

    if (c->label_count == 0 && c->pattern_count == 0)
        return CAT("settings.labels must name at least one label (or give settings.valuePattern)");

    const json_value *kinds = setting(s, "kinds");
    if (kinds) {
        char *reason = check_string_list(kinds, "kinds");
        if (reason) return reason;
        if (kinds->count == 0)
            return CAT("settings.kinds must name at least one kind (leave it out to check every kind)");
        c->kinds = kinds;
    }
    return NULL;
}

/* ---- checking objects ---- */

/* The string at `key` of `object`, or NULL. */
static const char *string_field(const json_value *object, const char *key) {
    const json_value *v = json_get(object, key);
    return v && v->type == JSON_STRING ? v->text : NULL;
}

static bool applies_to(const config *c, const json_value *object) {
    if (!c->kinds) return true;
    const char *kind = string_field(object, "kind");
    for (size_t i = 0; i < c->kinds->count; i++)
        if (strcmp(c->kinds->items[i]->text, kind ? kind : "") == 0) return true;
    return false;
}

/* A growable list of violations, handed to the bindings at the end. */
typedef struct {
    violation_t *items;
    size_t count;
    size_t cap;
} violations;

static violation_t *push(violations *list) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        violation_t *items = realloc(list->items, cap * sizeof *items);
        if (!items) return NULL;
        list->items = items;
        list->cap = cap;
    }
    violation_t *v = &list->items[list->count++];
    memset(v, 0, sizeof *v);
    v->severity = PLUMBLINE_POLICY_TYPES_SEVERITY_ERROR;
    return v;
}

/* An error violation about `object` at `path` (both malloc'd, taken). */
static void report(violations *list, const json_value *object, char *path, char *message) {
    violation_t *v = push(list);
    if (!v) {
        free(path);
        free(message);
        return;
    }
    const json_value *metadata = json_get(object, "metadata");
    const char *namespace_ = string_field(metadata, "namespace");
    v->target.is_some = true;
    v->target.val.api_version = copy(string_field(object, "apiVersion"));
    v->target.val.kind = copy(string_field(object, "kind"));
    v->target.val.namespace_.is_some = namespace_ != NULL;
    v->target.val.namespace_.val = copy(namespace_);
    v->target.val.name = copy(string_field(metadata, "name"));
    v->path = take(path);
    v->message = take(message);
}

static void check(const config *c, const json_value *object, violations *list) {
    const json_value *labels = json_get(json_get(object, "metadata"), "labels");
    if (labels && labels->type != JSON_OBJECT) labels = NULL;
    for (size_t i = 0; i < c->label_count; i++) {
        const char *label = c->labels[i]->text;
        if (!json_get(labels, label))
            report(list, object, child_path("metadata.labels", label),
                   CAT("missing required label `", label, "`"));
    }
    for (size_t i = 0; i < c->pattern_count; i++) {
        const pattern *p = &c->patterns[i];
        const json_value *value = json_get(labels, p->label);
        if (!value) continue;
        char *message;
        if (value->type == JSON_STRING) {
            if (regex_full_match(p->re, value->text, value->len)) continue;
            message = CAT("label `", p->label, "` has value `", value->text,
                          "`, which does not match `", p->source, "`");
        } else {
            char *found = json_serialize(value);
            message = CAT("label `", p->label, "` must be a string, found ", found ? found : "?");
            free(found);
        }
        report(list, object, child_path("metadata.labels", p->label), message);
    }
}

/* ---- the exports ---- */

void exports_plumbline_policy_metadata_info(exports_plumbline_policy_metadata_policy_info_t *ret) {
    ret->name = copy("required-labels");
    ret->version = copy(POLICY_VERSION);
    ret->description = copy(
        "Every object (optionally only of some kinds) must carry the required labels, with "
        "values matching the given regular expressions.");
    ret->settings_schema.is_some = true;
    ret->settings_schema.val = copy(
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"labels\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
        "\"description\":\"Label keys every checked object must carry.\"},"
        "\"valuePattern\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
        "\"description\":\"Label key -> regular expression the whole value must match.\"},"
        "\"kinds\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
        "\"description\":\"Only check objects of these kinds (default: all).\"}}}");
}

bool exports_plumbline_policy_metadata_check_settings(string_t *settings_json, string_t *err) {
    config c;
    char *problem = config_parse((const char *)settings_json->ptr, settings_json->len, &c);
    config_free(&c);
    validator_policy_string_free(settings_json);
    if (!problem) return true;
    *err = take(problem);
    return false;
}

void exports_plumbline_policy_validator_validate(
    exports_plumbline_policy_validator_list_object_json_t *objects,
    exports_plumbline_policy_validator_context_t *ctx,
    exports_plumbline_policy_validator_list_violation_t *ret) {
    violations list = {0};
    config c;
    char *problem = config_parse((const char *)ctx->settings_json.ptr, ctx->settings_json.len, &c);
    if (problem) {
        violation_t *v = push(&list);
        if (v) v->message = take(problem);
        else free(problem);
    } else {
        for (size_t i = 0; i < objects->len; i++) {
            char error[200];
            const string_t *text = &objects->ptr[i];
            json_value *object = json_parse((const char *)text->ptr, text->len, error, sizeof error);
            if (!object || object->type != JSON_OBJECT) {
                char index[21];
                char *message =
                    object ? CAT("object #", text_number(i, index),
                                 " of the batch cannot be read: expected a JSON object, found ",
                                 json_type_name(object))
                           : CAT("object #", text_number(i, index),
                                 " of the batch cannot be read: not valid JSON: ", error);
                violation_t *v = push(&list);
                if (v) v->message = take(message);
                else free(message);
                log_line(PLUMBLINE_POLICY_HOST_LEVEL_WARN, "an object of the batch is not a JSON object");
            } else if (applies_to(&c, object)) {
                check(&c, object, &list);
            }
            json_free(object);
        }
    }
    config_free(&c);
    exports_plumbline_policy_validator_list_object_json_free(objects);
    exports_plumbline_policy_validator_context_free(ctx);
    ret->ptr = list.items;
    ret->len = list.count;
}
