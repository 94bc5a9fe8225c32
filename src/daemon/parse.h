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
        QZ_METHOD_REGISTER_WRITER,
        QZ_METHOD_WRITER_ANSWER,
} qz_method;

#define QZ_WRITER_NAME_MAX 64    /* a writer's name: printable, no blank */
#define QZ_WRITER_DETAIL_MAX 256 /* an answer's detail or reason: one line */

/* A writer's phases, in the order a freeze runs them. */
typedef enum qz_phase {
        QZ_PHASE_PREPARE,
        QZ_PHASE_FREEZE,
        QZ_PHASE_THAW,
        QZ_PHASE_ABORT,
        QZ_PHASE_COUNT,
} qz_phase;

typedef enum qz_answer {
        QZ_ANSWER_NONE, /* not answered (yet): silent, timed out or gone */
        QZ_ANSWER_OK,
        QZ_ANSWER_VETO,
        QZ_ANSWER_FAIL,
} qz_answer;

const char *qz_phase_name(qz_phase p);
const char *qz_answer_name(qz_answer a);

/* RegisterWriter's defaults and ceilings (docs/protocol.md, "Writers"). */
#define QZ_WRITER_PREPARE_DEFAULT_MS 30000
#define QZ_WRITER_FREEZE_DEFAULT_MS 2000
#define QZ_WRITER_THAW_DEFAULT_MS 10000
#define QZ_WRITER_PREPARE_MAX_MS 600000
#define QZ_WRITER_FREEZE_MAX_MS 60000
#define QZ_WRITER_THAW_MAX_MS 600000

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
        /* RegisterWriter */
        const char *writer_name; /* into msg */
        bool required;
        usec_t phase_timeout[QZ_PHASE_COUNT]; /* prepare, freeze, thaw (abort uses thaw's) */
        /* WriterAnswer */
        uint64_t freeze_id;
        qz_phase phase;
        qz_answer answer;
        const char *detail; /* into msg, NULL none */
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
