/* SPDX-License-Identifier: GPL-2.0-or-later */
/* parse.c - the protocol's side of a request: the methods by name, and a
 * request's JSON text into a validated qz_request (see parse.h and
 * docs/protocol.md): framing leftovers, the method, and every parameter's
 * type and range, before a method's handler touches a file or a hold.
 * Pure: json-c only, no system call, so it can be fuzzed.
 */
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"
#include "ms.h"
#include "protocol.h"
#include "quiesce.h"

static int fail(qz_request_error *e, int err, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int fail(qz_request_error *e, int err, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        e->err = err;
        e->has_path = path != NULL;
        if (path)
                snprintf(e->path, sizeof(e->path), "%s", path);
        e->kind = qz_proto_error_kind(err, path != NULL);
        return -1;
}

/* One JSON object and nothing after it but blanks; NULL and *why otherwise.
 * One tokener for every request (reset before each): a new one per request
 * cost two allocations, the larger beyond malloc's per-thread cache. */
static json_object *parse_object(const char *text, const char **why) {
        static json_tokener *tok;
        if (!tok)
                tok = json_tokener_new();
        if (!tok) {
                *why = "out of memory";
                return NULL;
        }
        json_tokener_reset(tok);
        size_t len = strlen(text);
        json_object *msg = len > INT32_MAX ? NULL : json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        if (!msg) {
                *why = jerr == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(jerr);
                return NULL;
        }
        while (used < len && strchr(" \t\r\n", text[used]))
                used++;
        if (used < len) {
                *why = "trailing data after the JSON object";
        } else if (!json_object_is_type(msg, json_type_object)) {
                *why = "not a JSON object";
        } else {
                return msg;
        }
        json_object_put(msg);
        return NULL;
}

/* "timeout_ms", the protocol's milliseconds, as the daemon's usec_t. */
static int get_timeout(json_object *params, qz_request *req, qz_request_error *e) {
        int64_t ms;
        if (!qz_json_get_int64(params, "timeout_ms", &ms) || (ms <= 0 && ms != QZ_NO_DEADLINE))
                return fail(e, EINVAL, NULL,
                            "\"timeout_ms\" is required: a positive number of milliseconds, "
                            "or -1 for no deadline of the hold's own");
        req->timeout = qz_usec_from_ms(ms); /* QZ_NO_DEADLINE: none */
        return 0;
}

/* "paths" and "fds": 1..QZ_MAX_TARGETS targets, as many paths as descriptors
 * when both are given, paths absolute when quiesced must open them. */
static int get_targets(json_object *params, qz_request *req, qz_request_error *e) {
        json_object *paths = NULL, *v;
        int64_t n_fds = 0;
        if (json_object_object_get_ex(params, "paths", &paths) &&
            !json_object_is_type(paths, json_type_array))
                return fail(e, EINVAL, NULL, "\"paths\" must be an array of strings");
        if (json_object_object_get_ex(params, "fds", &v) && !qz_json_get_int64(params, "fds", &n_fds))
                return fail(e, EINVAL, NULL, "\"fds\" must be a number");
        size_t n_paths = paths ? json_object_array_length(paths) : 0;
        if (n_fds < 0 || n_fds > QZ_MAX_TARGETS || n_paths > QZ_MAX_TARGETS ||
            (n_fds > 0 && n_paths && n_paths != (size_t)n_fds))
                return fail(e, EINVAL, NULL,
                            "between 1 and %d targets, and as many paths as descriptors, please",
                            QZ_MAX_TARGETS);
        size_t n = n_fds > 0 ? (size_t)n_fds : n_paths;
        if (n == 0)
                return fail(e, EINVAL, NULL, "no path given");
        for (size_t i = 0; i < n; i++) {
                req->paths[i] = NULL;
                if (!paths)
                        continue;
                json_object *p = json_object_array_get_idx(paths, i);
                if (!json_object_is_type(p, json_type_string))
                        return fail(e, EINVAL, NULL, "\"paths\" must be an array of strings");
                req->paths[i] = json_object_get_string(p);
                if (n_fds == 0 && req->paths[i][0] != '/')
                        return fail(e, EINVAL, req->paths[i],
                                    "%.200s: paths must be absolute (or passed as descriptors)",
                                    req->paths[i]);
        }
        req->n_targets = n;
        req->n_fds = (size_t)n_fds;
        return 0;
}

/* "hold": absent (false), or a positive id. */
static int get_hold(json_object *params, qz_request *req, qz_request_error *e) {
        json_object *v;
        int64_t id;
        if (!json_object_object_get_ex(params, "hold", &v))
                return 0;
        if (!qz_json_get_int64(params, "hold", &id) || id <= 0)
                return fail(e, EINVAL, NULL, "\"hold\" must be a positive hold id");
        req->has_hold = true;
        req->hold = (uint64_t)id;
        return 0;
}

static int parse_freeze(json_object *params, qz_request *req, qz_request_error *e) {
        json_object *v;
        if (get_timeout(params, req, e) < 0)
                return -1;
        if (json_object_object_get_ex(params, "detached", &v) &&
            !qz_json_get_bool(params, "detached", &req->detached))
                return fail(e, EINVAL, NULL, "\"detached\" must be true or false");
        return get_targets(params, req, e);
}

static int parse_reset_timeout(json_object *params, qz_request *req, qz_request_error *e) {
        if (get_timeout(params, req, e) < 0)
                return -1;
        if (get_hold(params, req, e) < 0)
                return -1;
        return req->has_hold ? 0 : get_targets(params, req, e);
}

static int parse_thaw(json_object *params, qz_request *req, qz_request_error *e) {
        if (get_hold(params, req, e) < 0)
                return -1;
        return req->has_hold ? 0 : get_targets(params, req, e);
}

/* ---- writers ---------------------------------------------------------------- */

static const char *const phase_names[QZ_PHASE_COUNT] = {
        [QZ_PHASE_PREPARE] = QZ_PROTO_PHASE_PREPARE,
        [QZ_PHASE_FREEZE] = QZ_PROTO_PHASE_FREEZE,
        [QZ_PHASE_THAW] = QZ_PROTO_PHASE_THAW,
        [QZ_PHASE_ABORT] = QZ_PROTO_PHASE_ABORT,
};

const char *qz_phase_name(qz_phase p) {
        return (unsigned)p < QZ_PHASE_COUNT ? phase_names[p] : "?";
}

const char *qz_answer_name(qz_answer a) {
        switch (a) {
        case QZ_ANSWER_OK:
                return QZ_PROTO_ANSWER_OK;
        case QZ_ANSWER_VETO:
                return QZ_PROTO_ANSWER_VETO;
        case QZ_ANSWER_FAIL:
                return QZ_PROTO_ANSWER_FAIL;
        default:
                return "none";
        }
}

/* A name or a detail: printable ASCII or UTF-8, one line; names also no blank. */
static bool text_ok(const char *s, size_t max, bool blanks) {
        size_t n = strlen(s);
        if (n > max)
                return false;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || (!blanks && *p == ' '))
                        return false;
        return true;
}

/* A phase timeout "KEY": absent (the default), or 1..max milliseconds. */
static int get_phase_timeout(json_object *params, const char *key, int64_t def, int64_t max, usec_t *ret,
                             qz_request_error *e) {
        json_object *v;
        int64_t ms = def;
        if (json_object_object_get_ex(params, key, &v) &&
            (!qz_json_get_int64(params, key, &ms) || ms <= 0 || ms > max))
                return fail(e, EINVAL, NULL, "\"%s\" must be between 1 and %" PRId64 " milliseconds", key,
                            max);
        *ret = qz_usec_from_ms(ms);
        return 0;
}

static int parse_register_writer(json_object *params, qz_request *req, qz_request_error *e) {
        json_object *v;
        req->writer_name = qz_json_get_string(params, "name");
        if (!req->writer_name || !req->writer_name[0] ||
            !text_ok(req->writer_name, QZ_WRITER_NAME_MAX, false))
                return fail(e, EINVAL, NULL, "\"name\" is required: 1 to %d printable characters, no blank",
                            QZ_WRITER_NAME_MAX);
        if (json_object_object_get_ex(params, "required", &v) &&
            !qz_json_get_bool(params, "required", &req->required))
                return fail(e, EINVAL, NULL, "\"required\" must be true or false");
        if (get_phase_timeout(params, "prepare_timeout_ms", QZ_WRITER_PREPARE_DEFAULT_MS,
                              QZ_WRITER_PREPARE_MAX_MS, &req->phase_timeout[QZ_PHASE_PREPARE], e) < 0 ||
            get_phase_timeout(params, "freeze_timeout_ms", QZ_WRITER_FREEZE_DEFAULT_MS,
                              QZ_WRITER_FREEZE_MAX_MS, &req->phase_timeout[QZ_PHASE_FREEZE], e) < 0 ||
            get_phase_timeout(params, "thaw_timeout_ms", QZ_WRITER_THAW_DEFAULT_MS, QZ_WRITER_THAW_MAX_MS,
                              &req->phase_timeout[QZ_PHASE_THAW], e) < 0)
                return -1;
        req->phase_timeout[QZ_PHASE_ABORT] = req->phase_timeout[QZ_PHASE_THAW];
        return get_targets(params, req, e);
}

static int parse_writer_answer(json_object *params, qz_request *req, qz_request_error *e) {
        int64_t id;
        if (!qz_json_get_int64(params, "freeze", &id) || id <= 0)
                return fail(e, EINVAL, NULL, "\"freeze\" must be the positive id of the freeze asked about");
        req->freeze_id = (uint64_t)id;
        const char *phase = qz_json_get_string(params, "phase");
        unsigned k = 0;
        while (phase && k < QZ_PHASE_COUNT && strcmp(phase, phase_names[k]) != 0)
                k++;
        if (!phase || k == QZ_PHASE_COUNT)
                return fail(e, EINVAL, NULL, "\"phase\" must be prepare, freeze, thaw or abort");
        req->phase = (qz_phase)k;
        const char *answer = qz_json_get_string(params, "answer");
        if (answer && strcmp(answer, QZ_PROTO_ANSWER_OK) == 0)
                req->answer = QZ_ANSWER_OK;
        else if (answer && strcmp(answer, QZ_PROTO_ANSWER_VETO) == 0)
                req->answer = QZ_ANSWER_VETO;
        else if (answer && strcmp(answer, QZ_PROTO_ANSWER_FAIL) == 0)
                req->answer = QZ_ANSWER_FAIL;
        else
                return fail(e, EINVAL, NULL, "\"answer\" must be ok, veto or fail");
        json_object *v;
        if (json_object_object_get_ex(params, "detail", &v)) {
                req->detail = qz_json_get_string(params, "detail");
                if (!req->detail || !text_ok(req->detail, QZ_WRITER_DETAIL_MAX, true))
                        return fail(e, EINVAL, NULL, "\"detail\" must be one line of at most %d characters",
                                    QZ_WRITER_DETAIL_MAX);
        }
        return 0;
}

static int parse_none(json_object *params, qz_request *req, qz_request_error *e) {
        (void)params, (void)req, (void)e;
        return 0;
}

/* The methods: their names (protocol.h) and their parameters. */
static const struct {
        const char *name;
        qz_method method;
        int (*parse)(json_object *params, qz_request *req, qz_request_error *e);
} methods[] = {
        {QZ_PROTO_METHOD_FREEZE, QZ_METHOD_FREEZE, parse_freeze},
        {QZ_PROTO_METHOD_THAW, QZ_METHOD_THAW, parse_thaw},
        {QZ_PROTO_METHOD_RESET_TIMEOUT, QZ_METHOD_RESET_TIMEOUT, parse_reset_timeout},
        {QZ_PROTO_METHOD_STATUS, QZ_METHOD_STATUS, parse_none},
        {QZ_PROTO_METHOD_GET_INFO, QZ_METHOD_GET_INFO, parse_none},
        {QZ_PROTO_METHOD_REGISTER_WRITER, QZ_METHOD_REGISTER_WRITER, parse_register_writer},
        {QZ_PROTO_METHOD_WRITER_ANSWER, QZ_METHOD_WRITER_ANSWER, parse_writer_answer},
};

int qz_request_parse(const char *text, qz_request *req, qz_request_error *e) {
        memset(req, 0, sizeof(*req));
        memset(e, 0, sizeof(*e));
        const char *why = NULL;
        json_object *msg = parse_object(text, &why);
        if (!msg)
                return fail(e, EINVAL, NULL, "malformed request: %s", why);
        const char *method = qz_json_get_string(msg, "method");
        json_object *params = NULL;
        int r = -1;
        if (!method) {
                fail(e, EINVAL, NULL, "malformed request: no \"method\" string");
                goto out;
        }
        size_t k = 0;
        while (k < sizeof(methods) / sizeof(methods[0]) && strcmp(method, methods[k].name) != 0)
                k++;
        if (k < sizeof(methods) / sizeof(methods[0]))
                req->method = methods[k].method;
        if (json_object_object_get_ex(msg, "parameters", &params) &&
            !json_object_is_type(params, json_type_object)) {
                fail(e, EINVAL, NULL, "malformed request: \"parameters\" must be an object");
                goto out;
        }
        if (req->method == QZ_METHOD_UNKNOWN) {
                fail(e, EINVAL, NULL, "unknown method \"%.100s\"", method);
                goto out;
        }
        r = methods[k].parse(params, req, e);
out:
        if (r < 0) {
                json_object_put(msg);
                qz_method m = req->method;
                memset(req, 0, sizeof(*req));
                req->method = m;
                return -1;
        }
        req->msg = msg;
        return 0;
}

void qz_request_done(qz_request *req) {
        json_object_put(req->msg);
        memset(req, 0, sizeof(*req));
}
