/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freezer.c - the kernel calls, in threads (see freezer.h). A freeze's
 * keeper flushes with syncfs() first, its bdi throttled (throttle.h), so
 * FIFREEZE has little left to write and the writers are slowed rather than
 * stalled; it arms the guard before the ioctl (so no freeze can outlive the
 * daemon) and disarms it if the ioctl failed. Then it stays with the freeze:
 * a probe at every interval and whenever the loop asks (proof.h), and at the
 * end FITHAW and the guard disarmed. A pre-flush job is the syncfs alone,
 * for the later members of a group.
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

#include "blockstat.h"
#include "dm.h"
#include "guard.h"
#include "log.h"
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
        atomic_int v_err; /* the last probe's FIFREEZE errno, 0 it froze, -1 none issued */
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
        int64_t max_frozen_ms;
        int64_t probe_interval_ms;
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

static report *report_new(job *j, qz_report_kind kind) {
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
static void report_send(report *r) {
        qz_freezer *f = r->j->f;
        pthread_mutex_lock(&f->lock);
        r->next = f->finished;
        f->finished = r;
        pthread_mutex_unlock(&f->lock);
        uint64_t one = 1;
        if (write(f->efd, &one, sizeof(one)) < 0)
                log_error("freezer: cannot wake the event loop: %s", strerror(errno));
}

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

static void view_update(job *j, const qz_probe *p, usec_t at) {
        atomic_fetch_add(&j->v_probes, 1);
        atomic_store(&j->v_last_at, at);
        atomic_store(&j->v_have, p->have_sectors);
        atomic_store(&j->v_err, p->ioctl ? p->err : -1);
        if (p->have_sectors)
                atomic_store(&j->v_sectors, p->sectors);
}

/* One probe (proof.h): a FIFREEZE that should answer EBUSY, then the write
 * counter. The FIFREEZE is only issued while the freeze in place is ours,
 * or when the loop asked (a request wants to know); never past the ceiling.
 * When it may freeze a filesystem the guard does not cover, the guard is
 * armed first, as for any freeze. */
static qz_verdict probe(job *j, bool asked, qz_probe *p, usec_t *at) {
        qz_freezer *f = j->f;
        int unused = 0;
        memset(p, 0, sizeof(*p));
        bool may_freeze = qz_now() < j->probe_until && (j->ours || asked);
        bool armed_now = false;
        if (may_freeze && !j->armed) {
                if (qz_guard_arm(f->guard_sock, j->devno, j->fd, j->hard_deadline) < 0)
                        may_freeze = false; /* no guard, no freeze */
                else
                        armed_now = j->armed = true;
        }
        if (may_freeze) {
                p->ioctl = true;
                atomic_fetch_add(&f->probe_calls, 1);
                p->err = ioctl(j->fd, FIFREEZE, &unused) < 0 ? errno : 0;
                if (armed_now && p->err != 0) {
                        (void)qz_guard_disarm(f->guard_sock, j->devno);
                        j->armed = false;
                }
        }
        p->have_sectors = qz_blockstat_read(&j->stat, &p->sectors) == 0;
        *at = qz_now();
        qz_verdict v = qz_proof_judge(j->ours, j->base, p);
        j->ours = qz_proof_ours_after(j->ours, v);
        if (!j->ours && j->armed) {
                /* Another process's freeze: the guard must not thaw it if we die. */
                (void)qz_guard_disarm(f->guard_sock, j->devno);
                j->armed = false;
        }
        if (p->have_sectors)
                j->base = p->sectors;
        view_update(j, p, *at);
        return v;
}

static void fill_probe(report *r, const job *j, const qz_probe *p, qz_verdict v, usec_t at) {
        r->r.probe = *p;
        r->r.verdict = v;
        r->r.probe_at = at;
        r->r.ours = j->ours;
        r->r.have_sectors = p->have_sectors;
}

/* One probe of j under its lock, reported when asked for, on a breach,
 * or when it first cannot tell. false: j has ended (nothing probed). */
static bool probe_and_report(job *j, bool asked, unsigned seq) {
        pthread_mutex_lock(&j->mu);
        if (j->ended) {
                pthread_mutex_unlock(&j->mu);
                return false;
        }
        qz_probe p;
        usec_t at;
        qz_verdict verdict = probe(j, asked, &p, &at);
        bool news = asked || qz_verdict_is_breach(verdict) ||
                    (verdict == QZ_VERDICT_UNKNOWN && j->last_verdict != QZ_VERDICT_UNKNOWN);
        j->last_verdict = verdict;
        if (news) {
                report *r = report_new(j, QZ_REPORT_PROBE);
                fill_probe(r, j, &p, verdict, at);
                r->r.probe_seq = asked ? seq : 0;
                report_send(r);
        }
        pthread_mutex_unlock(&j->mu);
        return true;
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
                        probe_and_report(j, true, asked);
                answered = asked;
        }
}

static void job_unref(job *j);

/* The prober: every interval, one probe of each frozen filesystem, one
 * after another, from one thread (a wake-up per filesystem would cost more
 * than its probe). A filesystem whose keeper is busy (probing on request,
 * thawing) is skipped this round. */
static void *prober_main(void *arg) {
        qz_freezer *f = arg;
        for (;;) {
                /* Nothing frozen: sleep until a keeper joins (keepers_add wakes us). */
                pthread_mutex_lock(&f->keepers_lock);
                bool idle = !f->keepers;
                pthread_mutex_unlock(&f->keepers_lock);
                struct pollfd pfd = {.fd = f->prober_wake, .events = POLLIN};
                (void)poll(&pfd, 1, idle ? -1 : (int)f->probe_interval_ms);
                uint64_t v;
                while (read(f->prober_wake, &v, sizeof(v)) > 0)
                        ;
                if (atomic_load(&f->stopping))
                        return NULL;
                if (idle)
                        continue; /* woken: the first probe one interval after the freeze */
                job *round[256];
                size_t n = 0;
                pthread_mutex_lock(&f->keepers_lock);
                for (job *k = f->keepers; k && n < sizeof(round) / sizeof(round[0]); k = k->knext) {
                        atomic_fetch_add(&k->refs, 1);
                        round[n++] = k;
                }
                pthread_mutex_unlock(&f->keepers_lock);
                for (size_t i = 0; i < n; i++) {
                        job *k = round[i];
                        if (!atomic_load(&k->want_thaw) && !atomic_load(&k->abandon) &&
                            pthread_mutex_trylock(&k->mu) == 0) {
                                pthread_mutex_unlock(&k->mu);
                                probe_and_report(k, false, 0);
                        }
                        job_unref(k);
                }
        }
}

static void keepers_add(job *j) {
        qz_freezer *f = j->f;
        pthread_mutex_lock(&f->keepers_lock);
        j->kprev = NULL;
        j->knext = f->keepers;
        if (f->keepers)
                f->keepers->kprev = j;
        f->keepers = j;
        bool first = !j->knext;
        pthread_mutex_unlock(&f->keepers_lock);
        uint64_t one = 1;
        if (first && f->have_prober && write(f->prober_wake, &one, sizeof(one)) < 0)
                log_error("freezer: cannot wake the prober: %s", strerror(errno));
}

static void keepers_remove(job *j) {
        qz_freezer *f = j->f;
        pthread_mutex_lock(&f->keepers_lock);
        if (j->kprev)
                j->kprev->knext = j->knext;
        else if (f->keepers == j)
                f->keepers = j->knext;
        if (j->knext)
                j->knext->kprev = j->kprev;
        j->kprev = j->knext = NULL;
        pthread_mutex_unlock(&f->keepers_lock);
}

/* The end of a freeze: a last probe, then FITHAW if the freeze in place is
 * ours (another process's is left to it), the guard disarmed. */
static void thaw(job *j) {
        qz_freezer *f = j->f;
        int unused = 0;
        keepers_remove(j);
        pthread_mutex_lock(&j->mu); /* waits for a probe of the prober's */
        j->ended = true;
        report *r = report_new(j, QZ_REPORT_THAWED);
        if (!atomic_load(&j->abandon)) {
                qz_probe p;
                usec_t at;
                qz_verdict verdict = probe(j, false, &p, &at);
                fill_probe(r, j, &p, verdict, at);
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
        report_send(r);
        pthread_mutex_unlock(&j->mu);
}

static void *keeper_main(void *arg) {
        job *j = arg;
        qz_freezer *f = j->f;
        int unused = 0; /* FIFREEZE/FITHAW are declared _IOWR(int); the kernel ignores it */
        report *r = report_new(j, QZ_REPORT_FROZEN);
        if (qz_dm_suspended_below(j->devno, r->dm_name, sizeof(r->dm_name))) {
                /* device-mapper holds this freeze (dmsetup suspend): our syncfs
                 * would block until the resume, and the freeze is not ours to
                 * take or release. Touch nothing, answer EBUSY. */
                r->r.err = -EBUSY;
                r->r.start = r->r.end = qz_now();
                r->last = true;
                report_send(r);
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
                f->max_frozen_ms < 0 ? UINT64_MAX : now + (usec_t)f->max_frozen_ms * 1000 + GUARD_GRACE_USEC;
        j->probe_until = f->max_frozen_ms < 0 ? UINT64_MAX : now + (usec_t)f->max_frozen_ms * 1000;
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
                        atomic_store(&j->v_err, -1);
                        atomic_store(&j->v_have, r->r.have_sectors);
                        atomic_store(&j->v_sectors, j->base);
                } else {
                        (void)qz_guard_disarm(f->guard_sock, j->devno);
                }
        }
        qz_throttle_end(f->throttle, throttled);
        bool frozen = r->r.err == 0;
        r->last = !frozen;
        report_send(r);
        if (!frozen)
                return NULL;
        keepers_add(j);
        keep(j);
        thaw(j);
        return NULL;
}

static void *preflush_main(void *arg) {
        job *j = arg;
        qz_throttle_end(j->f->throttle, preflush(j));
        report *r = report_new(j, QZ_REPORT_FROZEN);
        r->last = true; /* only for the join: nothing to tell the state machine */
        report_send(r);
        return NULL;
}

/* The loop drops its reference after the job's last report; the prober
 * may still hold one for a moment. */
static void job_unref(job *j) {
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

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
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
                        job_unref(j);
                free(rev);
                rev = n;
        }
        return 0;
}

qz_freezer *qz_freezer_new(sd_event *e, int guard_sock, int64_t max_frozen_ms, bool throttle,
                           const char *state_dir, int64_t probe_interval_ms, qz_freezer_done_fn done,
                           void *ud) {
        qz_freezer *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        pthread_mutex_init(&f->lock, NULL);
        f->guard_sock = guard_sock;
        f->throttle = qz_throttle_new(guard_sock, throttle, state_dir);
        f->max_frozen_ms = max_frozen_ms;
        f->probe_interval_ms = probe_interval_ms;
        f->done = done;
        f->ud = ud;
        pthread_mutex_init(&f->keepers_lock, NULL);
        f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->prober_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!f->throttle || f->efd < 0 || f->prober_wake < 0 ||
            sd_event_add_io(e, &f->src, f->efd, EPOLLIN, on_finished, f) < 0) {
                qz_freezer_free(f);
                return NULL;
        }
        if (probe_interval_ms > 0) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, WORKER_STACK);
                f->have_prober = pthread_create(&f->prober, &attr, prober_main, f) == 0;
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
                job_unref(j);
                return r;
        }
        return 0;
}

/* A report that no thread sends: for a job that could not start. */
static void report_now(job *j, qz_report_kind kind, int err) {
        atomic_fetch_add(&j->f->inflight, 1);
        report *r = report_new(j, kind);
        r->r.err = err;
        r->r.start = r->r.end = qz_now();
        r->last = true;
        report_send(r);
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
                        report_now(j, QZ_REPORT_THAWED, -ENOENT);
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
                report_now(j, QZ_REPORT_FROZEN, r);
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
