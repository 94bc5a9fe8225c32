/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon.h - quiesced's shared state: one event loop, the hold table, the
 * freezer, the mount table and the guard, and the connections that use them
 * (server.h). main.c sets it up and tears it down.
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
#include "parse.h"
#include "wire.h"
#include "writers.h"

#define QZ_MAX_HOLDS 65536
#define QZ_DEFAULT_MAX_CONNS_PER_UID 64
#define QZ_DEFAULT_MAX_HOLDS_PER_UID 64
#define QZ_DEFAULT_PROBE_INTERVAL_MS 100

typedef struct qz_conn qz_conn; /* a client's connection, server.c's (server.h) */

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
        usec_t max_frozen;          /* the ceiling, QZ_USEC_INFINITY none */
        usec_t probe_interval;      /* a frozen filesystem's probe period (proof.h), QZ_USEC_INFINITY none */
        unsigned max_conns_per_uid; /* 0: no limit; root is never limited */
        unsigned max_holds_per_uid;
        uint64_t caps_kept;   /* capabilities left after start */
        usec_t next_deadline; /* the earliest deadline or ceiling, as the timer was last armed */
        bool shutting_down;
        usec_t shutdown_started;
        qz_conn *conns; /* server.c's: others ask it (server.h) */
        size_t n_conns;
        uint64_t holds_granted;
        qz_writers writers; /* writers.h: the registry and the runs of their phases */
} qz_daemon;
