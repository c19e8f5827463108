/*
 * The C sandbox probe: a validator that, on every call, tries to reach
 * outside the sandbox the way C code would, and reports what it got:
 *
 *   - fopen("/etc/passwd") and opendir("/") through wasi-libc (WASI
 *     preview1 files, adapted to wasi:filesystem);
 *   - getenv("HOME") and the whole `environ`;
 *   - a TCP socket: wasi-libc's preview1 has no socket(), so it calls
 *     wasi:sockets/tcp-create-socket directly (and connects to
 *     127.0.0.1:80 if it ever got one).
 *
 * Each result is one info violation about the set, one line on stderr
 * (which the host captures into the policy log) and one host log line.
 * engine/tests/policy_c.rs asserts that every attempt got nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_probe.h"

extern char **environ;

typedef sandbox_probe_string_t string_t;

static void report(exports_plumbline_policy_validator_list_violation_t *out, const char *text) {
    plumbline_policy_types_violation_t *v = &out->ptr[out->len++];
    memset(v, 0, sizeof *v);
    sandbox_probe_string_dup(&v->message, text);
    v->severity = PLUMBLINE_POLICY_TYPES_SEVERITY_INFO;
    fprintf(stderr, "probe: %s\n", text);
    string_t line = {(uint8_t *)text, strlen(text)};
    plumbline_policy_host_log(PLUMBLINE_POLICY_HOST_LEVEL_INFO, &line);
}

static const char *socket_error(wasi_sockets_network_error_code_t code) {
    switch (code) {
    case WASI_SOCKETS_NETWORK_ERROR_CODE_ACCESS_DENIED: return "access-denied";
    case WASI_SOCKETS_NETWORK_ERROR_CODE_NOT_SUPPORTED: return "not-supported";
    default: return "another error";
    }
}

static void try_file(exports_plumbline_policy_validator_list_violation_t *out) {
    char text[200];
    FILE *file = fopen("/etc/passwd", "r");
    if (file) {
        char first[64] = "";
        if (!fgets(first, sizeof first, file)) first[0] = '\0';
        fclose(file);
        snprintf(text, sizeof text, "file: fopen(\"/etc/passwd\") opened it and read: %s", first);
    } else {
        snprintf(text, sizeof text, "file: fopen(\"/etc/passwd\") failed: %s", strerror(errno));
    }
    report(out, text);

    DIR *root = opendir("/");
    if (root) {
        struct dirent *entry = readdir(root);
        snprintf(text, sizeof text, "file: opendir(\"/\") opened it; first entry: %s",
                 entry ? entry->d_name : "(none)");
        closedir(root);
    } else {
        snprintf(text, sizeof text, "file: opendir(\"/\") failed: %s", strerror(errno));
    }
    report(out, text);
}

static void try_environment(exports_plumbline_policy_validator_list_violation_t *out) {
    char text[200];
    const char *home = getenv("HOME");
    if (home) {
        snprintf(text, sizeof text, "env: getenv(\"HOME\") = \"%s\"", home);
    } else {
        snprintf(text, sizeof text, "env: getenv(\"HOME\") returned NULL");
    }
    report(out, text);
    size_t count = 0;
    while (environ && environ[count]) count++;
    snprintf(text, sizeof text, "env: environ has %zu variables", count);
    report(out, text);
}

static void try_socket(exports_plumbline_policy_validator_list_violation_t *out) {
    char text[200];
    wasi_sockets_tcp_create_socket_own_tcp_socket_t socket;
    wasi_sockets_tcp_create_socket_error_code_t error;
    if (!wasi_sockets_tcp_create_socket_create_tcp_socket(WASI_SOCKETS_NETWORK_IP_ADDRESS_FAMILY_IPV4,
                                                           &socket, &error)) {
        snprintf(text, sizeof text, "socket: create-tcp-socket(ipv4) failed: %s",
                 socket_error(error));
        report(out, text);
        return;
    }
    wasi_sockets_instance_network_own_network_t network =
        wasi_sockets_instance_network_instance_network();
    wasi_sockets_network_ip_socket_address_t address = {
        .tag = WASI_SOCKETS_NETWORK_IP_SOCKET_ADDRESS_IPV4,
        .val.ipv4 = {.port = 80, .address = {127, 0, 0, 1}},
    };
    if (wasi_sockets_tcp_method_tcp_socket_start_connect(
            wasi_sockets_tcp_borrow_tcp_socket(socket), wasi_sockets_network_borrow_network(network),
            &address, &error)) {
        snprintf(text, sizeof text, "socket: created a TCP socket and started connecting to 127.0.0.1:80");
    } else {
        snprintf(text, sizeof text, "socket: created a TCP socket; connect to 127.0.0.1:80 failed: %s",
                 socket_error(error));
    }
    report(out, text);
    wasi_sockets_network_network_drop_own(network);
    wasi_sockets_tcp_tcp_socket_drop_own(socket);
}

void exports_plumbline_policy_metadata_info(exports_plumbline_policy_metadata_policy_info_t *ret) {
    sandbox_probe_string_dup(&ret->name, "c-sandbox-probe");
    sandbox_probe_string_dup(&ret->version, "0.1.0");
    sandbox_probe_string_dup(&ret->description,
                             "Tries to read a file, the environment and open a socket, and reports "
                             "what it got.");
    ret->settings_schema.is_some = false;
}

bool exports_plumbline_policy_metadata_check_settings(string_t *settings_json, string_t *err) {
    (void)err;
    sandbox_probe_string_free(settings_json);
    return true;
}

void exports_plumbline_policy_validator_validate(
    exports_plumbline_policy_validator_list_object_json_t *objects,
    exports_plumbline_policy_validator_context_t *ctx,
    exports_plumbline_policy_validator_list_violation_t *ret) {
    exports_plumbline_policy_validator_list_object_json_free(objects);
    exports_plumbline_policy_validator_context_free(ctx);
    ret->len = 0;
    ret->ptr = calloc(8, sizeof *ret->ptr);
    if (!ret->ptr) abort();
    try_file(ret);
    try_environment(ret);
    try_socket(ret);
}
