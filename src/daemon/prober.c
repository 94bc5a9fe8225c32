/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prober.c - the probes of a frozen filesystem (proof.h): one probe, taken
 * by its keeper when the loop asks and by the prober thread at every
 * interval, and reported to the loop when it is news; the prober's list of
 * frozen filesystems.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "freezer-private.h"
#include "guard.h"
#include "log.h"

static void view_update(job *j, const qz_probe *p, usec_t at) {
        atomic_fetch_add(&j->v_probes, 1);
        atomic_store(&j->v_last_at, at);
        atomic_store(&j->v_have, p->have_sectors);
        atomic_store(&j->v_err, p->ioctl ? p->err : QZ_PROBE_NONE);
        if (p->have_sectors)
                atomic_store(&j->v_sectors, p->sectors);
}

/* One probe (proof.h): a FIFREEZE that should answer EBUSY, then the write
 * counter. The FIFREEZE is only issued while the freeze in place is ours,
 * or when the loop asked (a request wants to know); never past the ceiling.
 * When it may freeze a filesystem the guard does not cover, the guard is
 * armed first, as for any freeze. */
qz_verdict fz_probe(job *j, bool asked, qz_probe *p, usec_t *at) {
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
                p->err = ioctl(j->fd, FIFREEZE, &unused) < 0 ? -errno : 0;
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

void fz_fill_probe(report *r, const job *j, const qz_probe *p, qz_verdict v, usec_t at) {
        r->r.probe = *p;
        r->r.verdict = v;
        r->r.probe_at = at;
        r->r.ours = j->ours;
        r->r.have_sectors = p->have_sectors;
}

/* One probe of j under its lock, reported when asked for, on a breach,
 * or when it first cannot tell. false: j has ended (nothing probed). */
bool fz_probe_and_report(job *j, bool asked, unsigned seq) {
        pthread_mutex_lock(&j->mu);
        if (j->ended) {
                pthread_mutex_unlock(&j->mu);
                return false;
        }
        qz_probe p;
        usec_t at;
        qz_verdict verdict = fz_probe(j, asked, &p, &at);
        bool news = asked || qz_verdict_is_breach(verdict) ||
                    (verdict == QZ_VERDICT_UNKNOWN && j->last_verdict != QZ_VERDICT_UNKNOWN);
        j->last_verdict = verdict;
        if (news) {
                report *r = fz_report_new(j, QZ_REPORT_PROBE);
                fz_fill_probe(r, j, &p, verdict, at);
                r->r.probe_seq = asked ? seq : 0;
                fz_report_send(r);
        }
        pthread_mutex_unlock(&j->mu);
        return true;
}

/* The prober: every interval, one probe of each frozen filesystem, one
 * after another, from one thread (a wake-up per filesystem would cost more
 * than its probe). A filesystem whose keeper is busy (probing on request,
 * thawing) is skipped this round. */
void *fz_prober_main(void *arg) {
        qz_freezer *f = arg;
        for (;;) {
                /* Nothing frozen: sleep until a keeper joins (fz_keepers_add wakes us). */
                pthread_mutex_lock(&f->keepers_lock);
                bool idle = !f->keepers;
                pthread_mutex_unlock(&f->keepers_lock);
                struct pollfd pfd = {.fd = f->prober_wake, .events = POLLIN};
                (void)poll(&pfd, 1, idle ? -1 : (int)(f->probe_interval / 1000)); /* poll's milliseconds */
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
                                fz_probe_and_report(k, false, 0);
                        }
                        fz_job_unref(k);
                }
        }
}

void fz_keepers_add(job *j) {
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

void fz_keepers_remove(job *j) {
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
