/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon.h - quiesced's shared state: one event loop, the hold table, the
 * freezer, the mount table and the guard, and the connections that use them.
 * server.c owns the socket and connections, requests.c the methods, main.c
 * start-up and shutdown.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "freezer.h"
#include "holds.h"
#include "mounts.h"
#include "request.h"
#include "wire.h"

#define QZ_MAX_HOLDS 65536
#define QZ_GONE_RING 256
#define QZ_DEFAULT_MAX_CONNS_PER_UID 64
#define QZ_DEFAULT_MAX_HOLDS_PER_UID 64
#define QZ_DEFAULT_PROBE_INTERVAL_MS 100

typedef struct qz_conn qz_conn;

typedef struct qz_gone {
        uint64_t id;
        char why[128];
} qz_gone;

typedef struct qz_daemon {
        sd_event *event;
        qz_holds *holds;
        qz_freezer *freezer;
        qz_mounts *mounts;
        int guard_sock;
        sd_event_source *timer_src, *guard_src, *mounts_src, *listen_src, *post_src;
        int listen_fd;
        char *socket_path;
        char *runtime_dir;
        dev_t runtime_devno; /* the filesystem of the runtime directory: never frozen */
        bool have_group;
        gid_t group;
        int64_t max_frozen_ms;
        int64_t probe_interval_ms;  /* a frozen filesystem's probe period (proof.h), -1 none */
        unsigned max_conns_per_uid; /* 0: no limit; root is never limited */
        unsigned max_holds_per_uid;
        uint64_t caps_kept;   /* capabilities left after start */
        usec_t next_deadline; /* the earliest deadline or ceiling, as the timer was last armed */
        bool shutting_down;
        usec_t shutdown_started;
        qz_conn *conns;
        size_t n_conns;
        uint64_t holds_granted;
        qz_gone gone[QZ_GONE_RING]; /* why recent holds went away */
        unsigned gone_next;
} qz_daemon;

struct qz_conn {
        qz_daemon *d;
        int fd;
        sd_event_source *src;
        struct ucred cred;
        bool allowed;
        qz_wire_reader rd;
        char *out;
        size_t out_len, out_cap;
        bool busy;        /* a group freeze is in progress for it */
        bool closing;     /* close once the output is flushed */
        bool dispatching; /* inside qz_request_dispatch: replies must not resume */
        qz_op *op;
        struct qz_confirm *confirm;      /* a request waiting for probes (confirm.h) */
        void (*confirm_free)(void *arg); /* frees its argument if the connection goes first */
        qz_conn *prev, *next;
};

/* server.c */
int qz_server_listen(qz_daemon *d);
void qz_conn_reply(qz_conn *c, json_object *reply); /* takes the reference */
/* A reply already serialized (one JSON object, NUL-terminated on the wire). */
void qz_conn_reply_text(qz_conn *c, const char *text);
void qz_conn_resume(qz_conn *c); /* a pending request finished */
void qz_server_close_all(qz_daemon *d);

/* requests.c */
void qz_request_dispatch(qz_conn *c, const char *text); /* one message, NUL excluded */
extern const qz_holds_ops qz_daemon_holds_ops;
void qz_daemon_freeze_done(void *ud, qz_fs *fs, const qz_freeze_result *r);
const char *qz_daemon_gone_reason(qz_daemon *d, uint64_t id);
