/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freezer.c - the kernel calls, in threads (see freezer.h). A freeze's
 * keeper flushes with syncfs() first, its bdi throttled (throttle.h), so
 * FIFREEZE has little left to write and the writers are slowed rather than
 * stalled; it arms the guard before the ioctl (so no freeze can outlive the
 * daemon) and disarms it if the ioctl failed. Then it stays with the freeze:
 * a probe at every interval and whenever the loop asks (proof.h), and at the
 * end FITHAW and the guard disarmed. A pre-flush job is the syncfs alone,
 * for the later members of a group. The probes themselves and the prober
 * thread are prober.c's; the reports' way back to the loop is reports.c's.
 */
#include "freezer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "dm.h"
#include "freezer-private.h"
#include "guard.h"
#include "log.h"

/* syncfs with the filesystem's bdi throttled; returns the throttle, still
 * on, for the caller to end (after FIFREEZE: the writers stay slowed until
 * they block on the freeze). */
static qz_throttle_bdi *preflush(job *j) {
        char bdi[64];
        qz_throttle_bdi *b = NULL;
        if (qz_bdi_name(j->fd, j->fstype, j->devno, bdi, sizeof(bdi)) == 0)
                b = qz_throttle_begin(j->f->throttle, bdi);
        (void)syncfs(j->fd);
        return b;
}

/* While frozen: the probes the loop asks for, until told to thaw (or to
 * go). The periodic probes are the prober's (below). */
static void keep(job *j) {
        unsigned answered = 0;
        for (;;) {
                if (atomic_load(&j->asked) == answered && !atomic_load(&j->want_thaw) &&
                    !atomic_load(&j->abandon)) {
                        struct pollfd pfd = {.fd = j->wake_fd, .events = POLLIN};
                        (void)poll(&pfd, 1, -1);
                }
                uint64_t v;
                while (read(j->wake_fd, &v, sizeof(v)) > 0)
                        ;
                if (atomic_load(&j->abandon) || atomic_load(&j->want_thaw))
                        return;
                unsigned asked = atomic_load(&j->asked);
                if (asked != answered)
                        fz_probe_and_report(j, true, asked);
                answered = asked;
        }
}

/* The end of a freeze: a last probe, then FITHAW if the freeze in place is
 * ours (another process's is left to it), the guard disarmed. */
static void thaw(job *j) {
        qz_freezer *f = j->f;
        int unused = 0;
        fz_keepers_remove(j);
        pthread_mutex_lock(&j->mu); /* waits for a probe of the prober's */
        j->ended = true;
        report *r = fz_report_new(j, QZ_REPORT_THAWED);
        if (!atomic_load(&j->abandon)) {
                qz_probe p;
                usec_t at;
                qz_verdict verdict = fz_probe(j, false, &p, &at);
                fz_fill_probe(r, j, &p, verdict, at);
                if (j->ours) {
                        r->r.thaw_ioctl = true;
                        r->r.start = qz_now();
                        atomic_fetch_add(&f->fithaw_calls, 1);
                        r->r.err = ioctl(j->fd, FITHAW, &unused) < 0 ? -errno : 0;
                        r->r.end = qz_now();
                } else {
                        r->r.start = r->r.end = qz_now();
                }
                if (j->armed)
                        (void)qz_guard_disarm(f->guard_sock, j->devno);
                j->armed = false;
        }
        r->last = true;
        fz_report_send(r);
        pthread_mutex_unlock(&j->mu);
}

static void *keeper_main(void *arg) {
        job *j = arg;
        qz_freezer *f = j->f;
        int unused = 0; /* FIFREEZE/FITHAW are declared _IOWR(int); the kernel ignores it */
        report *r = fz_report_new(j, QZ_REPORT_FROZEN);
        if (qz_dm_suspended_below(j->devno, r->dm_name, sizeof(r->dm_name))) {
                /* device-mapper holds this freeze (dmsetup suspend): our syncfs
                 * would block until the resume, and the freeze is not ours to
                 * take or release. Touch nothing, answer EBUSY. */
                r->r.err = -EBUSY;
                r->r.start = r->r.end = qz_now();
                r->last = true;
                fz_report_send(r);
                return NULL;
        }
        /* The counter's files first: read right after FIFREEZE, nothing in between. */
        if (qz_blockstat_open(&j->stat, j->fd, j->fstype, j->devno) == 0)
                snprintf(r->device, sizeof(r->device), "%s", j->stat.name);
        /* Pre-flush while writers still run, so the freeze itself is short. */
        usec_t t0 = qz_now();
        qz_throttle_bdi *throttled = preflush(j);
        r->r.preflush_usec = qz_now() - t0;
        r->r.throttled = throttled != NULL;
        usec_t now = qz_now();
        j->hard_deadline =
                f->max_frozen == QZ_USEC_INFINITY ? UINT64_MAX : now + f->max_frozen + GUARD_GRACE_USEC;
        j->probe_until = f->max_frozen == QZ_USEC_INFINITY ? UINT64_MAX : now + f->max_frozen;
        int g = qz_guard_arm(f->guard_sock, j->devno, j->fd, j->hard_deadline);
        if (g < 0) {
                r->r.err = -ENOLINK; /* no guard, no freeze */
                r->r.start = r->r.end = qz_now();
        } else {
                r->r.start = qz_now();
                atomic_fetch_add(&f->fifreeze_calls, 1);
                int e = ioctl(j->fd, FIFREEZE, &unused);
                r->r.err = e < 0 ? -errno : 0;
                r->r.end = qz_now();
                if (e == 0) {
                        uint64_t s;
                        r->r.have_sectors = qz_blockstat_read(&j->stat, &s) == 0;
                        r->r.sectors_base = j->base = r->r.have_sectors ? s : 0;
                        j->ours = j->armed = true;
                        r->r.ours = true;
                        atomic_store(&j->v_last_at, r->r.end);
                        atomic_store(&j->v_err, QZ_PROBE_NONE);
                        atomic_store(&j->v_have, r->r.have_sectors);
                        atomic_store(&j->v_sectors, j->base);
                } else {
                        (void)qz_guard_disarm(f->guard_sock, j->devno);
                }
        }
        qz_throttle_end(f->throttle, throttled);
        bool frozen = r->r.err == 0;
        r->last = !frozen;
        fz_report_send(r);
        if (!frozen)
                return NULL;
        fz_keepers_add(j);
        keep(j);
        thaw(j);
        return NULL;
}

static void *preflush_main(void *arg) {
        job *j = arg;
        qz_throttle_end(j->f->throttle, preflush(j));
        report *r = fz_report_new(j, QZ_REPORT_FROZEN);
        r->last = true; /* only for the join: nothing to tell the state machine */
        fz_report_send(r);
        return NULL;
}

/* The loop drops its reference after the job's last report; the prober
 * may still hold one for a moment. */
void fz_job_unref(job *j) {
        if (atomic_fetch_sub(&j->refs, 1) != 1)
                return;
        qz_blockstat_close(&j->stat);
        if (j->fd >= 0)
                close(j->fd);
        if (j->wake_fd >= 0)
                close(j->wake_fd);
        pthread_mutex_destroy(&j->mu);
        free(j);
}

qz_freezer *qz_freezer_new(sd_event *e, int guard_sock, usec_t max_frozen, bool throttle,
                           const char *state_dir, usec_t probe_interval, qz_freezer_done_fn done, void *ud) {
        qz_freezer *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        pthread_mutex_init(&f->lock, NULL);
        f->guard_sock = guard_sock;
        f->throttle = qz_throttle_new(guard_sock, throttle, state_dir);
        f->max_frozen = max_frozen;
        f->probe_interval = probe_interval;
        f->done = done;
        f->ud = ud;
        pthread_mutex_init(&f->keepers_lock, NULL);
        f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->prober_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!f->throttle || f->efd < 0 || f->prober_wake < 0 ||
            sd_event_add_io(e, &f->src, f->efd, EPOLLIN, fz_on_finished, f) < 0) {
                qz_freezer_free(f);
                return NULL;
        }
        if (probe_interval != QZ_USEC_INFINITY) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, WORKER_STACK);
                f->have_prober = pthread_create(&f->prober, &attr, fz_prober_main, f) == 0;
                pthread_attr_destroy(&attr);
                if (!f->have_prober) {
                        qz_freezer_free(f);
                        return NULL;
                }
        }
        /* Completions before new requests: a thaw result is never queued behind clients. */
        sd_event_source_set_priority(f->src, SD_EVENT_PRIORITY_IMPORTANT);
        return f;
}

void qz_freezer_free(qz_freezer *f) {
        if (!f)
                return;
        if (f->have_prober) {
                /* No keeper is left (the caller checked inflight), so it is not
                 * in a probe: it returns at once. */
                atomic_store(&f->stopping, true);
                uint64_t one = 1;
                if (write(f->prober_wake, &one, sizeof(one)) < 0)
                        log_error("freezer: cannot stop the prober: %s", strerror(errno));
                pthread_join(f->prober, NULL);
        }
        if (f->prober_wake > 0)
                close(f->prober_wake);
        pthread_mutex_destroy(&f->keepers_lock);
        sd_event_source_unref(f->src);
        qz_throttle_free(f->throttle);
        if (f->efd >= 0)
                close(f->efd);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

/* Starts j's thread, joinable: the loop joins it when its last report comes
 * back (it is called from the loop, so j->tid is set before the loop can see
 * that report). */
static int spawn(job *j, void *(*fn)(void *)) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        atomic_fetch_add(&j->f->inflight, 1);
        j->joinable = true;
        int r = pthread_create(&j->tid, &attr, fn, j);
        pthread_attr_destroy(&attr);
        if (r != 0)
                j->joinable = false;
        return -r;
}

static job *job_new(qz_freezer *f, qz_fs *fs, job_kind kind) {
        job *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->f = f;
        j->fs = fs;
        j->devno = fs->devno;
        j->kind = kind;
        j->wake_fd = -1;
        j->last_verdict = QZ_VERDICT_HELD;
        pthread_mutex_init(&j->mu, NULL);
        atomic_store(&j->refs, 1);
        for (size_t i = 0; i < QZ_BLOCKSTAT_MAX_DEVS; i++)
                j->stat.fds[i] = -1;
        snprintf(j->fstype, sizeof(j->fstype), "%s", fs->fstype ? fs->fstype : "");
        j->fd = kind == JOB_NO_KEEPER ? -1 : fcntl(fs->ioctl_fd, F_DUPFD_CLOEXEC, 3);
        if (kind != JOB_NO_KEEPER && j->fd < 0) {
                pthread_mutex_destroy(&j->mu);
                free(j);
                return NULL;
        }
        return j;
}

int qz_freezer_preflush(qz_freezer *f, qz_fs *fs) {
        job *j = job_new(f, fs, JOB_PREFLUSH);
        if (!j)
                return -ENOMEM;
        int r = spawn(j, preflush_main);
        if (r != 0) {
                atomic_fetch_sub(&f->inflight, 1);
                fz_job_unref(j);
                return r;
        }
        return 0;
}

static void wake(job *j) {
        uint64_t one = 1;
        if (write(j->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                log_error("freezer: cannot wake the keeper of %s: %s", j->fs ? j->fs->mountpoint : "?",
                          strerror(errno));
}

int qz_freezer_start(qz_freezer *f, qz_fs *fs, bool freeze) {
        if (!freeze) {
                job *k = fs->keeper;
                if (!k) {
                        /* Nothing holds it (cannot happen while it is frozen): say so
                         * through the loop like any result, never re-entrantly. */
                        job *j = job_new(f, fs, JOB_NO_KEEPER);
                        if (!j)
                                return -ENOMEM;
                        fz_report_now(j, QZ_REPORT_THAWED, -ENOENT);
                        return 0;
                }
                atomic_store(&k->want_thaw, true);
                wake(k);
                return 0;
        }
        job *j = job_new(f, fs, JOB_KEEPER);
        if (!j)
                return -ENOMEM;
        j->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        fs->keeper = j;
        int r = j->wake_fd < 0 ? -errno : spawn(j, keeper_main);
        if (r != 0) {
                /* No thread: complete with the error through the loop like any job,
                 * so the state machine never sees a re-entrant completion. */
                if (j->joinable == false && j->wake_fd >= 0)
                        atomic_fetch_sub(&f->inflight, 1); /* spawn counted it */
                fz_report_now(j, QZ_REPORT_FROZEN, r);
        }
        return 0;
}

int qz_freezer_probe(qz_freezer *f, qz_fs *fs) {
        (void)f;
        job *k = fs->keeper;
        if (!k)
                return -ENOENT;
        unsigned seq = atomic_fetch_add(&k->asked, 1) + 1;
        wake(k);
        return (int)(seq & 0x7fffffff);
}

void qz_freezer_abandon(qz_freezer *f, qz_fs *fs) {
        (void)f;
        job *k = fs->keeper;
        if (!k)
                return;
        k->fs = NULL; /* its reports are dropped from now on */
        fs->keeper = NULL;
        atomic_store(&k->abandon, true);
        wake(k);
}

bool qz_freezer_view(const qz_fs *fs, qz_keeper_view *ret) {
        job *k = fs->keeper;
        if (!k)
                return false;
        ret->probes = atomic_load(&k->v_probes);
        ret->last_probe_at = atomic_load(&k->v_last_at);
        ret->have_sectors = atomic_load(&k->v_have);
        ret->sectors = atomic_load(&k->v_sectors);
        ret->last_err = atomic_load(&k->v_err);
        return true;
}

unsigned qz_freezer_inflight(qz_freezer *f) {
        return atomic_load(&f->inflight);
}

uint64_t qz_freezer_fifreeze_calls(qz_freezer *f) {
        return atomic_load(&f->fifreeze_calls);
}

uint64_t qz_freezer_fithaw_calls(qz_freezer *f) {
        return atomic_load(&f->fithaw_calls);
}

uint64_t qz_freezer_probe_calls(qz_freezer *f) {
        return atomic_load(&f->probe_calls);
}
