/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writers.h - application writers (DESIGN.md, "Writers"; docs/protocol.md):
 * the registry of connections registered as writers (writers.c, with the
 * RegisterWriter and WriterAnswer methods) and the runs of their phases
 * around the freezes that call FIFREEZE (phases.c).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "clock.h"
#include "holds.h"
#include "parse.h"

typedef struct qz_conn qz_conn;
typedef struct qz_daemon qz_daemon;
typedef struct qz_wrun qz_wrun;

#define QZ_DEFAULT_MAX_WRITERS_PER_UID 16
/* How long a writer of a uid other than root may hold up a freeze: its
 * prepare timeout plus its freeze timeout (--max-writer-delay). */
#define QZ_DEFAULT_MAX_WRITER_DELAY_MS (5 * 60 * 1000)
#define QZ_MAX_WRITERS 4096

/* What a writer registered for, by name, as it was at registration (the
 * filesystem may be forgotten by the hold table since; Status shows these). */
typedef struct qzd_writer_fs {
        char *mountpoint, *fstype, *source;
        char *path; /* the request's path, or "descriptor #i" */
} qzd_writer_fs;

/* The last phase a writer was sent, and its answer (Status: "last"). */
typedef struct qzd_writer_last {
        uint64_t freeze; /* the run's id; 0: never asked */
        qz_phase phase;
        qz_answer answer; /* QZ_ANSWER_NONE: not (yet) answered */
        bool timed_out;
        usec_t sent, answered;
        char *detail;
} qzd_writer_last;

/* One registered writer. Reference-counted: the registry holds one while it
 * is registered, each run that asked it one, so a run still names a writer
 * whose connection went. */
typedef struct qzd_writer {
        uint64_t id;
        qz_conn *conn; /* NULL once its connection closed */
        char *name;
        uid_t uid;
        pid_t pid;
        bool required; /* root only: a silent or failing answer fails the freeze */
        bool may_veto; /* root: a veto fails the freeze; anybody else's is recorded only */
        bool dropped;  /* quiesced closed its connection: it left too many events unread */
        usec_t timeout[QZ_PHASE_COUNT];
        size_t n_fs;
        dev_t *devno;      /* the superblocks it registered for */
        char (*fs_id)[32]; /* "major:minor" of each, for reports */
        qzd_writer_fs *fs; /* their names, for Status */
        usec_t registered;
        qzd_writer_last last; /* written on the loop by phases.c and wevents.c */
        unsigned refs;
        struct qzd_writer *prev, *next;
} qzd_writer;

/* The daemon's writers: the registry, and the runs in progress or bound to
 * a freeze cycle (phases.c). */
typedef struct qz_writers {
        qzd_writer *first;
        size_t n; /* registered now: 0 keeps the freeze path as it was */
        uint64_t next_id;
        qz_wrun *runs;
        /* Freezes waiting for a member's FITHAW to end: their writers just
         * got thaw, and are asked to prepare again once it has ended. */
        struct waiter *thawing;
        size_t n_thawing;
        uint64_t next_freeze_id;
        unsigned max_per_uid; /* 0 none; root is never limited */
        usec_t max_delay;     /* a writer of a uid other than root: prepare + freeze timeouts; 0 none */
} qz_writers;

/* ---- writers.c ------------------------------------------------------------- */

void qz_method_register_writer(qz_conn *c, const qz_request *req);
void qz_method_writer_answer(qz_conn *c, const qz_request *req);
/* c closed: its writer, if it is one, leaves the registry and every run. */
void qz_writers_conn_gone(qz_daemon *d, qz_conn *c);
/* Whether w registered for devno. */
bool qzd_writer_covers(const qzd_writer *w, dev_t devno);
/* What RegisterWriter's reply and Status say of every writer: id, name,
 * required, may_veto and the three timeouts. */
json_object *qzd_writer_json(const qzd_writer *w);
qzd_writer *qzd_writer_ref(qzd_writer *w);
/* The phase of freeze was sent to w / w answered it / it timed out (its
 * "last" in Status; an answer to an older phase is not recorded there). */
void qzd_writer_note_sent(qzd_writer *w, uint64_t freeze, qz_phase phase, usec_t now);
void qzd_writer_note_answer(qzd_writer *w, uint64_t freeze, qz_phase phase, qz_answer answer,
                            const char *detail, usec_t now);
void qzd_writer_note_timeout(qzd_writer *w, uint64_t freeze, qz_phase phase);
/* w as Status lists it ("writers", docs/protocol.md). */
json_object *qzd_writer_status_json(const qzd_writer *w, usec_t now);
void qzd_writer_unref(qzd_writer *w);
void qz_writers_done(qz_writers *ws); /* at exit: the registry emptied (connections are gone) */

/* ---- phases.c -------------------------------------------------------------- */

/* The outcome of a run, for its freeze: err 0 (go on and freeze), or a
 * negative errno and msg (naming the writer and its reason), with writer:
 * the writer that refused, as a hold reports its writers (borrowed; the
 * error reply's "writer", docs/protocol.md). */
typedef void (*qz_phases_done_fn)(qz_daemon *d, void *arg, int err, const char *msg, json_object *writer);

/* Before the freeze of fs[0..n) by requester c: 0 when no writer is
 * concerned (freeze now, no allocation made), 1 when a run was started (or
 * the freeze waits for one already running on a member): done(d, arg, ...)
 * is called later, once, unless c goes first (then free_arg(arg)). */
int qz_phases_gate(qz_daemon *d, qz_conn *c, qz_fs *const *fs, size_t n, qz_phases_done_fn done, void *arg,
                   void (*free_arg)(void *arg));
/* The freeze c asked for after its run passed is answered: ok (a hold), or
 * not (what its run bound to filesystems that were not frozen is thawed). */
void qz_phases_op_done(qz_daemon *d, qz_conn *c, bool ok);
/* c closed: its runs are cancelled (abort, or thaw to those that got
 * freeze), its waits dropped. */
void qz_phases_requester_gone(qz_daemon *d, qz_conn *c);
/* fs's freeze cycle ended (FITHAW, the guard) or broke (why): thaw goes to
 * its writers that got freeze; nothing waits for their answers. */
void qz_phases_fs_thawed(qz_daemon *d, qz_fs *fs, const char *why);
/* fs (devno) has thawed and the holds' own waiters were served: the
 * freezes that waited for its thaw to end go through the gate again. */
void qz_phases_thaw_ended(qz_daemon *d, dev_t devno);
/* A writer's answer to phase of freeze id. */
void qz_phases_answer(qz_daemon *d, qzd_writer *w, uint64_t freeze_id, qz_phase phase, qz_answer answer,
                      const char *detail);
/* w's connection closed: pending answers become failures, a freeze it got
 * is marked lost. */
void qz_phases_writer_gone(qz_daemon *d, qzd_writer *w);
/* At exit: every run ended (their writers are gone already). */
void qz_phases_free_all(qz_daemon *d);
/* The writers of a hold's filesystems fs[0..n) ("writers" of a hold:
 * docs/protocol.md), NULL when no writer concerns them. */
json_object *qz_phases_writers_json(const qz_writers *ws, qz_fs *const *fs, size_t n, usec_t now);
