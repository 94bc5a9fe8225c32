/* SPDX-License-Identifier: GPL-2.0-or-later */
/* phases-private.h - a writer run's insides, shared by phases.c (its life)
 * and wreport.c (its report in a hold) and nobody else.
 */
#pragma once

#include "writers.h"

typedef struct wslot {
        qzd_writer *w; /* a reference */
        qz_answer answer[QZ_PHASE_COUNT];
        char *detail[QZ_PHASE_COUNT];
        usec_t sent[QZ_PHASE_COUNT]; /* 0: not sent */
        usec_t answered[QZ_PHASE_COUNT];
        bool timed_out[QZ_PHASE_COUNT];
        bool late[QZ_PHASE_COUNT]; /* answered after its timeout: recorded, not counted */
        bool gone;                 /* its connection closed during the run */
        bool lost;                 /* ... after it got freeze, before thaw went out */
        bool closed;               /* got thaw or abort (or is gone): nothing more is sent */
} wslot;

typedef struct waiter {
        qz_conn *c;
        qz_phases_done_fn fn;
        void *arg;
        void (*free_arg)(void *arg);
        qz_fs **fs; /* pinned while it waits */
        size_t n;
} waiter;

typedef enum run_state { RUN_PREPARE, RUN_FREEZE, RUN_BOUND, RUN_OVER } run_state;

struct qz_wrun {
        uint64_t id;
        qz_daemon *d;
        run_state state;
        qz_conn *requester; /* until its freeze is answered */
        qz_phases_done_fn done;
        void *arg;
        void (*free_arg)(void *arg);
        size_t n_fs, n_bound;
        dev_t *devno; /* the members it prepared (those to be frozen) */
        bool *bound;  /* member i's freeze cycle is still this run's */
        json_object *fs_json;
        qz_fs **req_fs; /* the requester's filesystems, pinned until it is told */
        size_t n_req;
        size_t n;
        wslot *slot;
        sd_event_source *timer;
        waiter *waiters;
        size_t n_waiters;
        json_object *refusal; /* the writer that failed the run, for the requester's error */
        qz_wrun *next;
};

/* Why s's answer to phase p is not an ok in time: "vetoed: REASON", "did not
 * answer freeze within 2s", "disconnected during prepare" (malloc'd). */
char *qz_wslot_reason(const wslot *s, qz_phase p);
/* s as a hold reports its writers (wreport.c), with the filesystems of the
 * run's requester among those it registered for. */
json_object *qz_wslot_json(const qz_wrun *run, const wslot *s, usec_t now);
/* s acknowledged freeze in time and stayed until its thaw. */
bool qz_wslot_acknowledged(const wslot *s);

/* phases.c's moves, for wevents.c: */
/* Every writer asked goes (thaw or abort), the requester is told (err,
 * msg; not when cancelled), waiters woken, the run freed. */
void qz_wrun_end(qz_wrun *run, int err, const char *msg);
/* Member i's freeze cycle ended (why): thaw to its writers; the last ends
 * the run. */
void qz_wrun_unbind(qz_wrun *run, size_t i, const char *why);
/* On once every writer asked in this phase answered, timed out or went. */
void qz_wrun_advance(qz_wrun *run);
/* Unpins fs[0..n) (and frees the array); idle: let unwanted ones go idle. */
void qz_wrun_unpin(qz_daemon *d, qz_fs **fs, size_t n, bool idle);
