/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job.h - backup jobs (src/job): the job model and its file (parse.c, with
 * libinih), the jobs directory (jobs.c), the OnCalendar check (calendar.c),
 * the one-run-at-a-time lock (lock.c), the run (run.c), its metrics
 * (metrics.c), journal fields (journal.c), its state file (state.c) and the
 * freshness verdict of `quiesce check` (freshness.c). See docs/jobs.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cleanup.h"
#include "retention.h"
#include "snapshot.h"

#define QZ_JOBS_DIR_ENV "QUIESCE_JOBS_DIR"
#define QZ_DEFAULT_JOBS_DIR "/etc/quiesce/jobs.d"
#define QZ_JOB_LOCK_DIR_ENV "QUIESCE_JOB_LOCK_DIR"
#define QZ_DEFAULT_JOB_LOCK_DIR "/run/quiesce/jobs"
#define QZ_DEFAULT_METRICS_DIR "/var/lib/prometheus/node-exporter"
#define QZ_JOB_SUFFIX ".conf"
#define QZ_JOB_NAME_MAX 40 /* leaves room for "-YYYYMMDDTHHMMSSZ-NN" in a snapshot name */

typedef enum qz_job_target {
        QZ_JOB_TARGET_NONE = 0, /* snapshots only */
        QZ_JOB_TARGET_ARCHIVE,  /* an archive per run in a directory */
        QZ_JOB_TARGET_EXEC,     /* a command per filesystem (restic, borg ...) */
} qz_job_target;

/* One job file. Durations in ms (0: the snapshot library's default). */
typedef struct qz_job {
        char *name; /* the file's name without .conf */
        char *file; /* its path */
        /* [job] */
        char *description;
        char *schedule;    /* OnCalendar=, or NULL: run by hand only */
        char *store;       /* NULL: the default store */
        char *metrics_dir; /* NULL: QZ_DEFAULT_METRICS_DIR; "" or "none": no metrics */
        /* [snapshot] */
        char **paths; /* NULL-terminated */
        size_t n_paths;
        char *provider;
        char *exec_cmd, *exec_delete, *lvm_size;
        int64_t exec_timeout_ms, timeout_ms, hook_timeout_ms;
        char *hooks_dir;
        char **writers; /* NULL-terminated names, recorded (see docs/jobs.md) */
        size_t n_writers;
        bool allow_crash_consistent, no_freeze;
        /* [backup] */
        qz_job_target target;
        char *archive_dir;
        char *archive_format; /* "tar", "tar.gz", "tar.zst" */
        char **exec;          /* the command's words, NULL-terminated */
        size_t n_exec;
        char **exec_env; /* "NAME=VALUE", NULL-terminated (env = lines) */
        size_t n_exec_env;
        bool keep_snapshot; /* default true: retention decides */
        /* [retention] */
        bool has_retention;
        qz_retention retention; /* restic's forget --keep-* (retention.h) */
} qz_job;

void qz_job_free(qz_job *j);
QZ_DEFINE_POINTER_CLEANUP(qz_job, qz_job_free);

/* A job name: 1..QZ_JOB_NAME_MAX of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool qz_job_name_valid(const char *name);

/* ---- parse.c ---- */

/* Checks an OnCalendar= expression: 0, or -EINVAL with *ret_error the reason. */
typedef int (*qz_calendar_check_fn)(const char *expr, char **ret_error);

/* Parses a job file's text (file: its path, for messages and the name).
 * 0, or -EINVAL with *ret_error "FILE:LINE: reason" (FILE: reason when no
 * line fits). check may be NULL (no schedule check). */
int qz_job_parse_string(const char *file, const char *text, qz_calendar_check_fn check, qz_job **ret,
                        char **ret_error);
/* Reads and parses a file: also -ENOENT, -errno with the reason. */
int qz_job_parse_file(const char *file, qz_calendar_check_fn check, qz_job **ret, char **ret_error);

/* ---- calendar.c ---- */

/* systemd-analyze calendar EXPR (systemd's own parser; libsystemd does not
 * export it). When systemd-analyze is missing the expression is accepted. */
int qz_calendar_check(const char *expr, char **ret_error);
/* The next elapse of expr as systemd-analyze says it ("Sat 2026-12-05
 * 03:00:00 UTC", malloc'd), or NULL. */
char *qz_calendar_next(const char *expr);

/* ---- jobs.c: the jobs directory ---- */

/* opt, else $QUIESCE_JOBS_DIR, else QZ_DEFAULT_JOBS_DIR (malloc'd). */
char *qz_jobs_dir(const char *opt);
/* DIR/NAME.conf: 0, -ENOENT (no such job, with the reason), -EINVAL. */
int qz_job_load(const char *dir, const char *name, qz_job **ret, char **ret_error);
/* The names of DIR/ *.conf, sorted (NULL-terminated, malloc'd). A missing
 * directory has none. */
int qz_jobs_names(const char *dir, char ***ret, size_t *n, char **ret_error);
/* The snapshot name base of a run: NAME-YYYYMMDDTHHMMSSZ at t (buf >= 64). */
void qz_job_snapshot_base(const qz_job *j, time_t t, char *buf, size_t size);
/* Whether a snapshot belongs to job: its manifest's "job" says so, or (a
 * manifest without "job") its name is NAME-YYYYMMDDTHHMMSSZ[-N]. */
bool qz_job_owns(const qz_job *j, const qz_manifest *m);

/* ---- lock.c: one run of a job at a time ---- */

typedef struct qz_job_lock {
        int fd; /* -1: not held */
        char *path;
} qz_job_lock;

/* $QUIESCE_JOB_LOCK_DIR or QZ_DEFAULT_JOB_LOCK_DIR (malloc'd). */
char *qz_job_lock_dir(void);
/* Takes DIR/NAME.lock (flock, released when the process dies) and writes
 * "PID SINCE" in it. wait: block until it is free. -EBUSY with *ret_error
 * 'job "db" is already running (pid N, since ...)'; -errno. */
int qz_job_lock_take(const char *name, bool wait, qz_job_lock *l, char **ret_error);
void qz_job_lock_release(qz_job_lock *l);

/* ---- state.c: the last runs of a job, STORE/.job-NAME.state ---- */

typedef struct qz_job_state {
        int64_t last_run;        /* unix seconds, 0 never */
        int64_t last_success;    /* a run that succeeded */
        int64_t last_consistent; /* a run that succeeded with a consistent snapshot */
        char *last_snapshot;     /* its snapshot's name (consistent or not) */
        char *last_consistent_snapshot;
        char *last_consistent_label;
        char *last_target; /* what the backup wrote (archive path, or the command) */
        bool last_ok;
        char *last_writer_failure; /* the last run's named writer that was not registered or did
                                    * not acknowledge, as a sentence; NULL none */
} qz_job_state;

char *qz_job_state_path(const char *store, const char *name);
/* 0 (a missing file: all zero), -EBADMSG, -errno. */
int qz_job_state_load(const char *store, const char *name, qz_job_state *s);
/* Atomically (temporary file, rename). 0 or -errno. */
int qz_job_state_save(const char *store, const char *name, const qz_job_state *s);
void qz_job_state_done(qz_job_state *s);

/* ---- freshness.c: the verdict of `quiesce check` (Nagios plugin codes) ---- */

typedef enum qz_check_status {
        QZ_CHECK_OK = 0,
        QZ_CHECK_WARNING = 1,
        QZ_CHECK_CRITICAL = 2,
        QZ_CHECK_UNKNOWN = 3,
} qz_check_status;

const char *qz_check_status_name(qz_check_status s); /* "OK", "WARNING" ... */
/* The verdict on the age of the newest consistent snapshot or backup:
 * newest 0 (none) is critical; an age >= crit critical, >= warn warning.
 * A newest in the future (a clock step) counts as age 0. */
qz_check_status qz_check_freshness(int64_t newest, int64_t now, int64_t warn_s, int64_t crit_s,
                                   int64_t *ret_age);
/* A manifest's "created" ("2026-11-22T11:15:00Z") in unix seconds, or 0. */
int64_t qz_check_parse_created(const char *created);
