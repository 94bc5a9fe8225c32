/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reports.c - the freezer's results on their way to the event loop: a
 * locked list the threads push to and an eventfd that wakes the loop, which
 * joins a finished thread and hands each report to the daemon (glue.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freezer-private.h"
#include "log.h"

report *fz_report_new(job *j, qz_report_kind kind) {
        report *r = calloc(1, sizeof(*r));
        if (!r)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        r->j = j;
        r->r.kind = kind;
        r->r.freeze = kind == QZ_REPORT_FROZEN;
        r->r.detail = r->dm_name;
        r->r.device = r->device;
        snprintf(r->device, sizeof(r->device), "%s", j->stat.name);
        return r;
}

/* Hands a report to the event loop (from any thread). */
void fz_report_send(report *r) {
        qz_freezer *f = r->j->f;
        pthread_mutex_lock(&f->lock);
        r->next = f->finished;
        f->finished = r;
        pthread_mutex_unlock(&f->lock);
        uint64_t one = 1;
        if (write(f->efd, &one, sizeof(one)) < 0)
                log_error("freezer: cannot wake the event loop: %s", strerror(errno));
}

/* A report that no thread sends: for a job that could not start. */
void fz_report_now(job *j, qz_report_kind kind, int err) {
        atomic_fetch_add(&j->f->inflight, 1);
        report *r = fz_report_new(j, kind);
        r->r.err = err;
        r->r.start = r->r.end = qz_now();
        r->last = true;
        fz_report_send(r);
}

int fz_on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_freezer *f = userdata;
        uint64_t v;
        (void)s;
        (void)revents;
        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_error("freezer: eventfd read: %s", strerror(errno));
        pthread_mutex_lock(&f->lock);
        report *list = f->finished;
        f->finished = NULL;
        pthread_mutex_unlock(&f->lock);
        report *rev = NULL;
        while (list) {
                report *n = list->next;
                list->next = rev;
                rev = list;
                list = n;
        }
        while (rev) {
                report *n = rev->next;
                job *j = rev->j;
                if (rev->last) {
                        /* The thread has nothing left but to return: join it, so no
                         * worker outlives the count (and quiesced's exit) by a moment. */
                        if (j->joinable)
                                pthread_join(j->tid, NULL);
                        atomic_fetch_sub(&f->inflight, 1);
                }
                qz_fs *fs = j->fs;
                bool deliver = fs && j->kind != JOB_PREFLUSH && (fs->keeper == j || j->kind == JOB_NO_KEEPER);
                if (deliver && rev->last && fs->keeper == j)
                        fs->keeper = NULL; /* before the state machine may start the next freeze */
                if (deliver)
                        f->done(f->ud, fs, &rev->r);
                if (rev->last)
                        fz_job_unref(j);
                free(rev);
                rev = n;
        }
        return 0;
}
