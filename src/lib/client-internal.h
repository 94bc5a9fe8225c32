/* SPDX-License-Identifier: GPL-2.0-or-later */
/* client-internal.h - what the parts of libquiesce share and nobody else
 * sees: the connection object, the request/reply call, reply decoding.
 */
#pragma once

#include <json-c/json.h>
#include <stdarg.h>
#include <sys/types.h>

#include "quiesce.h"
#include "wire.h"

struct qz_client {
        int fd; /* -1 once the connection is closed */
        char *socket_path;
        qz_wire_reader reader;
        char *last_reply; /* the parameters of the last reply, JSON text */
        char error[1024];
        qz_writer_report *error_writer; /* the last error's "writer", NULL none */
};

/* Send one request (params is consumed, may be NULL) with fds, read the reply.
 * 0 and *ret_params (a new reference, may be NULL if not wanted), or -errno
 * with the reason in c->error. */
int qz_client_call(qz_client *c, const char *method, json_object *params, const int *fds, size_t n_fds,
                   json_object **ret_params);
void qz_client_set_error(qz_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget the socket without closing it (it was already closed after fork). */
void qz_client_forget_fd(qz_client *c);

/* decode.c: reply objects into the public structs; 0 or -EBADMSG. */
int qz_decode_hold(json_object *o, qz_hold **ret);
int qz_decode_status(json_object *o, qz_status **ret);
/* A Thaw reply's parameters ({"released": [...]}). */
int qz_decode_thaw(json_object *o, qz_thaw_report **ret);
/* One of a hold's "writers", or a refused Freeze's "writer"
 * (docs/protocol.md), into w (zeroed); its strings freed by
 * qz_writer_report_done. */
int qz_decode_writer_report(json_object *o, qz_writer_report *w);
void qz_writer_report_done(qz_writer_report *w);

/* A request's targets: paths opened here (or the caller's descriptors),
 * passed to quiesced as SCM_RIGHTS with their absolute paths. */
typedef struct qz_targets {
        int fds[QZ_WIRE_MAX_FDS];
        size_t n_fds;
        size_t n_owned; /* fds[0..n_owned) were opened here */
        json_object *paths;
} qz_targets;

int qz_client_open_targets(qz_client *c, const char *const *paths, size_t n, qz_targets *t);
void qz_client_targets_done(qz_targets *t);
/* {"paths": [...], "fds": n}: a new object */
json_object *qz_client_target_params(qz_targets *t);
