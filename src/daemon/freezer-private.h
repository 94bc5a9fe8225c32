/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freezer-private.h - what the freezer's files share (freezer.c the jobs
 * and their keeper threads, prober.c the probes and the prober thread,
 * reports.c the queue of results to the event loop). Nothing outside them
 * includes it.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "blockstat.h"
#include "freezer.h"
#include "throttle.h"

#define WORKER_STACK (128 * 1024)
#define GUARD_GRACE_USEC (5 * 1000000ULL) /* the daemon's own ceiling fires first */

typedef enum {
        JOB_KEEPER,   /* a freeze, from FIFREEZE to FITHAW */
        JOB_PREFLUSH, /* a group member's early syncfs */
        JOB_NO_KEEPER /* a thaw asked of a filesystem without a keeper: answered at once */
} job_kind;

typedef struct job {
        qz_freezer *f;
        qz_fs *fs; /* NULL once abandoned: its reports are dropped */
        int fd;    /* its own descriptor (a dup): fs may close its own before we are done */
        dev_t devno;
        job_kind kind;
        bool joinable; /* the loop joins its thread when its last report is in */
        pthread_t tid;
        char fstype[32];
        /* the keeper's commands, from the loop */
        int wake_fd; /* eventfd */
        atomic_bool want_thaw, abandon;
        atomic_uint asked; /* probes asked for; the keeper answers the count it saw */
        /* the keeper's own state, under mu (the prober probes it too) */
        pthread_mutex_t mu;
        bool ended;                /* thawed or abandoned: nobody probes it any more */
        atomic_uint refs;          /* the loop's, and the prober's while it probes */
        struct job *kprev, *knext; /* the prober's list of frozen filesystems */
        usec_t hard_deadline;      /* the guard's */
        usec_t probe_until;        /* no probe FIFREEZE after the ceiling: the thaw is due */
        qz_blockstat stat;
        bool ours, armed;
        uint64_t base; /* the counter when the freeze was last known in place */
        qz_verdict last_verdict;
        /* what it knows, for status */
        atomic_ullong v_probes, v_last_at, v_sectors;
        atomic_bool v_have;
        atomic_int v_err; /* the last probe's FIFREEZE answer, as qz_keeper_view.last_err */
} job;

/* One result for the loop. */
typedef struct report {
        job *j;
        bool last; /* the job's thread returns after it */
        qz_freeze_result r;
        char dm_name[128];
        char device[96];
        struct report *next;
} report;

struct qz_freezer {
        sd_event_source *src;
        int efd;
        int guard_sock;
        qz_throttle *throttle;
        usec_t max_frozen;     /* the ceiling, QZ_USEC_INFINITY none */
        usec_t probe_interval; /* QZ_USEC_INFINITY: no periodic probes */
        qz_freezer_done_fn done;
        void *ud;
        pthread_mutex_t lock;
        report *finished; /* LIFO of reports, reversed on drain */
        /* the prober: one thread for every frozen filesystem's periodic probe */
        pthread_t prober;
        bool have_prober;
        int prober_wake; /* eventfd: stop */
        pthread_mutex_t keepers_lock;
        job *keepers; /* frozen, not ended */
        atomic_bool stopping;
        atomic_uint inflight;
        atomic_ullong fifreeze_calls, fithaw_calls, probe_calls;
};

/* reports.c: a report for the loop (from any thread); the loop's handler. */
report *fz_report_new(job *j, qz_report_kind kind);
void fz_report_send(report *r);
/* A report that no thread sends: for a job that could not start. */
void fz_report_now(job *j, qz_report_kind kind, int err);
int fz_on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* prober.c: one probe of j (its lock held); one under its lock, reported
 * when it is news (false: j has ended); the prober's list and thread. */
qz_verdict fz_probe(job *j, bool asked, qz_probe *p, usec_t *at);
void fz_fill_probe(report *r, const job *j, const qz_probe *p, qz_verdict v, usec_t at);
bool fz_probe_and_report(job *j, bool asked, unsigned seq);
void fz_keepers_add(job *j);
void fz_keepers_remove(job *j);
void *fz_prober_main(void *arg);

/* freezer.c: the loop drops its reference after the job's last report. */
void fz_job_unref(job *j);
