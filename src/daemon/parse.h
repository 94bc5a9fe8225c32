/* SPDX-License-Identifier: GPL-2.0-or-later */
/* parse.h - one request message parsed and validated into a struct, with
 * no side effect: no file is opened, no descriptor taken, no kernel call.
 * dispatch.c hands the struct to its method; the fuzzer (tests/fuzz) drives
 * this alone.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"

#define QZ_MAX_TARGETS 64

typedef enum qz_method {
        QZ_METHOD_UNKNOWN, /* only in a request that failed to parse */
        QZ_METHOD_FREEZE,
        QZ_METHOD_THAW,
        QZ_METHOD_RESET_TIMEOUT,
        QZ_METHOD_STATUS,
        QZ_METHOD_GET_INFO,
} qz_method;

typedef struct qz_request {
        json_object *msg; /* owned: paths point into it */
        qz_method method; /* known even when a parameter was refused */
        usec_t timeout;   /* Freeze, ResetTimeout: "timeout_ms", > 0, or QZ_USEC_INFINITY for none */
        bool detached;    /* Freeze */
        bool has_hold;    /* Thaw, ResetTimeout by hold id */
        uint64_t hold;
        size_t n_targets; /* 1..QZ_MAX_TARGETS unless has_hold or no targets */
        size_t n_fds;     /* descriptors announced; 0: paths (absolute) are opened by quiesced */
        const char *paths[QZ_MAX_TARGETS]; /* NULL entries when only descriptors name targets */
} qz_request;

typedef struct qz_request_error {
        const char *kind; /* io.quiesce.InvalidRequest or io.quiesce.Error */
        int err;          /* positive errno, as the reply carries it */
        bool has_path;    /* a request path is at fault: path names it */
        char path[4096];
        char message[320];
} qz_request_error;

/* Parses one message (the text between two NULs). 0 and *req filled (free
 * with qz_request_done), or -1 and *e filled (req->method still says which
 * method was asked for, when known; nothing to free). */
int qz_request_parse(const char *text, qz_request *req, qz_request_error *e);
void qz_request_done(qz_request *req);
