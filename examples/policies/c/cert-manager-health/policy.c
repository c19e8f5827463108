/*
 * cert-manager-health, in C: a health policy for cert-manager's
 * Certificate, CertificateRequest, Issuer and ClusterIssuer. A failed
 * issuance is failed (kstatus says in progress), a Certificate cert-manager
 * has not looked at yet is in progress (kstatus says current).
 *
 * The same verdicts and messages as the Rust policy in
 * policies/cert-manager-health (see its README), tested with the same
 * suite. The JSON reader and string helpers are required-labels' (see the
 * Makefile). The code talks to the host only through the wit-bindgen
 * bindings of the `health-policy` world (health_policy.h, generated at
 * build time).
 */
#include <stdlib.h>
#include <string.h>

#include "../required-labels/json.h"
#include "../required-labels/text.h"
#include "health_policy.h"

#define POLICY_VERSION "0.1.0"

typedef health_policy_string_t string_t;
typedef exports_plumbline_policy_health_assessment_t assessment_t;

#define CURRENT EXPORTS_PLUMBLINE_POLICY_HEALTH_STATUS_CURRENT
#define IN_PROGRESS EXPORTS_PLUMBLINE_POLICY_HEALTH_STATUS_IN_PROGRESS
#define FAILED EXPORTS_PLUMBLINE_POLICY_HEALTH_STATUS_FAILED
#define UNKNOWN EXPORTS_PLUMBLINE_POLICY_HEALTH_STATUS_UNKNOWN

static const char *const KINDS[] = {"Certificate", "CertificateRequest", "Issuer", "ClusterIssuer"};

/* ---- reading the object ---- */

/* The string at `key` of `object`, "" when missing or not a string. */
static const char *text_of(const json_value *object, const char *key) {
    const json_value *value = json_get(object, key);
    return value && value->type == JSON_STRING ? value->text : "";
}

/* The integer at `key` of `object` into `out`; false when missing. */
static bool number_of(const json_value *object, const char *key, long long *out) {
    const json_value *value = json_get(object, key);
    if (!value || value->type != JSON_NUMBER) return false;
    char *end = NULL;
    *out = strtoll(value->text, &end, 10);
    return end && *end == '\0';
}

/* The condition of `type` in status.conditions, or NULL. */
static const json_value *condition(const json_value *object, const char *type) {
    const json_value *list = json_get(json_get(object, "status"), "conditions");
    if (!list || list->type != JSON_ARRAY) return NULL;
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(text_of(list->items[i], "type"), type) == 0) return list->items[i];
    }
    return NULL;
}

static bool status_is(const json_value *condition, const char *status) {
    return condition && strcmp(text_of(condition, "status"), status) == 0;
}

/* `reason: message`, whichever is set, or `<type> is <status>` (malloc'd). */
static char *describe(const json_value *condition) {
    const char *reason = text_of(condition, "reason");
    const char *message = text_of(condition, "message");
    if (*reason && *message) return CAT(reason, ": ", message);
    if (*reason || *message) return CAT(*reason ? reason : message);
    return CAT(text_of(condition, "type"), " is ", text_of(condition, "status"));
}

/* ---- verdicts ---- */

static void verdict(assessment_t *ret, uint8_t status, char *message) {
    ret->status = status;
    ret->message.ptr = (uint8_t *)message;
    ret->message.len = message ? strlen(message) : 0;
    if (ret->message.len == 0) {
        free(message); /* the bindings free only non-empty strings */
        ret->message.ptr = NULL;
    }
}

/*
 * `Ready`, unless it is missing or was written for an older generation:
 * then `ret` is set to in progress, saying why, and NULL is returned.
 */
static const json_value *ready(const json_value *live, const char *waiting, assessment_t *ret) {
    const json_value *found = condition(live, "Ready");
    if (!found) {
        verdict(ret, IN_PROGRESS, CAT(waiting));
        return NULL;
    }
    long long observed, generation;
    if (number_of(found, "observedGeneration", &observed) &&
        number_of(json_get(live, "metadata"), "generation", &generation) && observed < generation) {
        char a[21], b[21];
        verdict(ret, IN_PROGRESS,
                CAT("cert-manager has observed generation ", text_number((size_t)observed, a),
                    ", not yet generation ", text_number((size_t)generation, b)));
        return NULL;
    }
    return found;
}

/*
 * Each kind's rule returns the verdict's status and sets `*why` to the
 * condition that explains it; NULL when `ready` already set `ret`.
 */
static uint8_t certificate(const json_value *live, const json_value **why, assessment_t *ret) {
    const json_value *r = ready(live, "waiting for cert-manager to issue the certificate", ret);
    if (!(*why = r)) return IN_PROGRESS;
    const json_value *issuing = condition(live, "Issuing");
    bool failed_before = json_get(json_get(live, "status"), "lastFailureTime") != NULL;
    bool issuing_failed = strcmp(text_of(issuing, "reason"), "Failed") == 0;
    if (status_is(issuing, "True")) {
        *why = issuing;
        return IN_PROGRESS;
    }
    if (status_is(issuing, "False") && (failed_before || issuing_failed)) {
        *why = issuing;
        return FAILED;
    }
    if (status_is(r, "True")) return CURRENT;
    if (status_is(r, "False") && strcmp(text_of(r, "reason"), "Failed") == 0) return FAILED;
    return IN_PROGRESS;
}

static uint8_t certificate_request(const json_value *live, const json_value **why,
                                   assessment_t *ret) {
    const char *failures[] = {"Denied", "InvalidRequest"};
    for (size_t i = 0; i < 2; i++) {
        *why = condition(live, failures[i]);
        if (status_is(*why, "True")) return FAILED;
    }
    const json_value *r = ready(live, "waiting for the issuer to sign the request", ret);
    if (!(*why = r)) return IN_PROGRESS;
    const char *reason = text_of(r, "reason");
    if (status_is(r, "True")) return CURRENT;
    bool refused = strcmp(reason, "Failed") == 0 || strcmp(reason, "Denied") == 0;
    if (status_is(r, "False") && refused) return FAILED;
    return IN_PROGRESS;
}

static uint8_t issuer(const json_value *live, const json_value **why, assessment_t *ret) {
    const json_value *r = ready(live, "waiting for cert-manager to check the issuer", ret);
    if (!(*why = r)) return IN_PROGRESS;
    if (status_is(r, "True")) return CURRENT;
    if (status_is(r, "False")) return FAILED;
    return IN_PROGRESS;
}

/* ---- the exports ---- */

static string_t copy(const char *s) {
    string_t out = {0};
    if (s && *s) health_policy_string_dup(&out, s);
    return out;
}

void exports_plumbline_policy_metadata_info(exports_plumbline_policy_metadata_policy_info_t *ret) {
    ret->name = copy("cert-manager-health");
    ret->version = copy(POLICY_VERSION);
    ret->description = copy(
        "Health of cert-manager Certificates, CertificateRequests, Issuers and ClusterIssuers: "
        "a failed issuance is failed, not in progress.");
    ret->settings_schema.is_some = false;
}

bool exports_plumbline_policy_metadata_check_settings(string_t *settings_json, string_t *err) {
    (void)err;
    health_policy_string_free(settings_json);
    return true;
}

void exports_plumbline_policy_health_kinds(exports_plumbline_policy_health_list_group_kind_t *ret) {
    size_t count = sizeof KINDS / sizeof KINDS[0];
    ret->ptr = calloc(count, sizeof *ret->ptr);
    ret->len = ret->ptr ? count : 0;
    for (size_t i = 0; i < ret->len; i++) {
        ret->ptr[i].group = copy("cert-manager.io");
        ret->ptr[i].kind = copy(KINDS[i]);
    }
}

void exports_plumbline_policy_health_assess(exports_plumbline_policy_health_object_json_t *live_json,
                                            exports_plumbline_policy_health_object_json_t *maybe_desired,
                                            exports_plumbline_policy_health_context_t *ctx,
                                            assessment_t *ret) {
    char error[200];
    json_value *live = json_parse((const char *)live_json->ptr, live_json->len, error, sizeof error);
    if (!live || live->type != JSON_OBJECT) {
        verdict(ret, UNKNOWN, CAT("the live object cannot be read: not a JSON object"));
    } else {
        const char *kind = text_of(live, "kind");
        const json_value *why = NULL;
        uint8_t status = strcmp(kind, "Certificate") == 0          ? certificate(live, &why, ret)
                         : strcmp(kind, "CertificateRequest") == 0 ? certificate_request(live, &why, ret)
                                                                   : issuer(live, &why, ret);
        if (why) verdict(ret, status, describe(why));
    }
    json_free(live);
    exports_plumbline_policy_health_object_json_free(live_json);
    if (maybe_desired) exports_plumbline_policy_health_object_json_free(maybe_desired);
    exports_plumbline_policy_health_context_free(ctx);
}
