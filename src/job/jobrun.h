/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jobrun.h - one run of a job (run.c): its snapshot (qz_snapshot_take), its
 * backup (bk_backup_run), retention, then the state file, the metrics and
 * the journal; and what the command reports of it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backup.h"
#include "job.h"

typedef struct qz_job_run_opts {
        const char *socket; /* quiesced's, NULL: the default */
        bool json;          /* the report is JSON: commands' stdout goes to stderr */
        qz_snapshot_msg_fn msg;
        void *userdata;
} qz_job_run_opts;

/* One of a job's writers (writers = NAME...), before and after a run. */
typedef struct qz_job_writer {
        const char *name; /* the job's */
        int registered; /* for one of the job's filesystems now: 1, 0 not, -1 unknown (quiesced not asked) */
        char *where;    /* registered: "pid 812, uid 0, for /srv/db (ext4 7:1)"; else why not */
        bool judged;    /* a snapshot was made: acknowledged says what its manifest shows; or
                         * quiesced refused the freeze because of this writer (acknowledged false) */
        bool acknowledged;
        char *reason; /* judged and not acknowledged: why */
} qz_job_writer;

typedef struct qz_job_run {
        char *snapshot_name;   /* the name this run asked for */
        qz_manifest *snapshot; /* what it made (NULL: nothing) */
        struct bk_backup backup;
        bool backed_up;         /* backup describes a complete backup */
        char *archive;          /* the archive's path (archive target) */
        int64_t started;        /* unix seconds */
        int64_t duration_ms;    /* the whole run */
        bool ok;                /* a usable snapshot (and its backup) was made */
        bool consistent;        /* and it is not crash-consistent */
        qz_label label;         /* the snapshot's proven label (when snapshot) */
        int pruned;             /* snapshots retention removed; -1: no policy (or it could not run) */
        int pruned_archives;    /* archives of archive-dir it removed; -1: none pruned */
        int prune_failed;       /* removals that failed (each reported) */
        int64_t kept;           /* the job's snapshots in the store after the run; -1 unknown */
        char *metrics_file;     /* written, or NULL */
        int signal;             /* an interruption */
        qz_job_writer *writers; /* j->n_writers of them, or NULL (none named) */
        size_t n_writers;
        bool writers_refused;   /* a named writer was not registered: nothing was frozen */
        size_t writers_unacked; /* named writers that did not acknowledge the snapshot's freeze */
        char *freeze_refusal;   /* quiesced refused the freeze because of a writer (a veto, a required
                                 * writer's failure): 'writer "NAME" refused the freeze: REASON', or NULL */
        char *refused_by;       /* that writer's name */
} qz_job_run;

/* Runs job j (the caller holds its lock). 0 when ok; -errno otherwise (the
 * reasons went to o->msg); *run describes it either way. */
int qz_job_run_once(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run);
void qz_job_run_done(qz_job_run *run);
/* The snapshot options of a run of j (pointing into j). */
void qz_job_snapshot_opts(const qz_job *j, const char *socket, const char *name, qz_snapshot_opts *so);
/* The archive file of a run: ARCHIVE_DIR/SNAPSHOT.FORMAT (malloc'd). */
char *qz_job_archive_path(const qz_job *j, const char *snapshot);
/* The number of j's snapshots in its store, -errno. */
int64_t qz_job_count_snapshots(const qz_job *j);

/* ---- writers.c: the job's writers ---- */

/* Asks quiesced (socket) whether each of j's writers is registered for one of
 * j's filesystems: *ret[0..j->n_writers) (free with qz_job_writers_free).
 * 0 (each registered 0 or 1), or -errno when quiesced cannot be asked (each
 * registered -1, where the reason). */
int qz_job_writers_lookup(const qz_job *j, const char *socket, qz_job_writer **ret);
/* After the run: whether each acknowledged the freeze of snapshot m. The
 * number that did not. */
size_t qz_job_writers_judge(qz_job_writer *w, size_t n, const qz_manifest *m);
void qz_job_writers_free(qz_job_writer *w, size_t n);

/* ---- metrics.c: Prometheus text format, for the node exporter ---- */

/* The metrics text of a run (malloc'd). state: after the run. */
char *qz_job_metrics_text(const qz_job *j, const qz_job_run *run, const qz_job_state *state);
/* Writes it to DIR/quiesce_job_NAME.prom (temporary file, rename).
 * 0 (*ret_path set), or -errno with *ret_error. */
int qz_job_metrics_write(const qz_job *j, const char *text, char **ret_path, char **ret_error);

/* ---- journal.c ---- */

/* One structured entry for the run, when journald is there (its socket
 * exists): MESSAGE, PRIORITY, QUIESCE_JOB, QUIESCE_LABEL, QUIESCE_SNAPSHOT,
 * QUIESCE_STALL_USEC, QUIESCE_FROZEN_USEC, ... 1 logged, 0 no journal, -errno. */
int qz_job_journal(const qz_job *j, const qz_job_run *run);
