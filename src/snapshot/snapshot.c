/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot.c - taking a snapshot, as its steps (docs/snapshots.md): plan
 * (the name, every path resolved and given a provider), check and prepare
 * (before anything is frozen), freeze hooks, one group freeze through
 * quiesced, take (the providers within the deadline), verify and thaw (the
 * hold checked whole, then released), thaw hooks, label, write (the
 * manifest). Steps 1 and 2 are plan.c's (run.h between them). What differs
 * between providers is theirs (provider.h flags and
 * callbacks); what quiesced says comes typed from libquiesce. Deleting a
 * snapshot is delete.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "hooks.h"
#include "mkdirp.h"
#include "provider.h"
#include "run.h"
#include "template.h"
#include "xalloc.h"

void qz_snapshot_opts_init(qz_snapshot_opts *o) {
        memset(o, 0, sizeof(*o));
        o->exec_timeout_ms = -1;
        o->timeout_ms = QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS;
        o->hook_timeout_ms = QZ_HOOK_DEFAULT_TIMEOUT_MS;
}

void run_say(struct run *R, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        if (R->quiet) {
                R->queued = realloc(R->queued, (R->n_queued + 1) * sizeof(*R->queued));
                if (!R->queued)
                        abort();
                R->queued[R->n_queued++] = s;
                return;
        }
        if (R->o->msg)
                R->o->msg(R->o->userdata, s);
        free(s);
}

void run_speak_again(struct run *R) {
        R->quiet = false;
        for (size_t i = 0; i < R->n_queued; i++) {
                if (R->o->msg)
                        R->o->msg(R->o->userdata, R->queued[i]);
                free(R->queued[i]);
        }
        free(R->queued);
        R->queued = NULL;
        R->n_queued = 0;
}

void run_note(qz_manifest *m, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        m->notes = realloc(m->notes, (m->n_notes + 1) * sizeof(*m->notes));
        if (!m->notes)
                abort();
        m->notes[m->n_notes++] = s;
}

bool run_interrupted(const struct run *R) {
        return R->o->interrupted && *R->o->interrupted;
}

void run_proof_from_ref(qz_snap_proof *p, const qz_fs_ref *ref) {
        p->known = ref->proof.known;
        p->held = ref->held && ref->proof.known;
        p->probe = ref->proof.probe[0] ? xstrdup(ref->proof.probe) : NULL;
        p->probe_ms = ref->proof.probe_ms;
        p->device = ref->proof.device[0] ? xstrdup(ref->proof.device) : NULL;
        p->sectors_written = ref->proof.sectors_written;
        p->breaches = ref->proof.breaches;
        p->breach = xstrdup(ref->proof.breach);
        p->foreign = ref->proof.foreign;
}

const qz_fs_ref *run_hold_fs(const qz_hold *h, const char *id) {
        for (size_t j = 0; h && j < h->n_fs; j++)
                if (strcmp(h->fs[j].id, id) == 0)
                        return &h->fs[j];
        return NULL;
}

void run_iso_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t run_clamp(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

/* ---- 3. freeze hooks; 4. one group freeze ---- */

static void freeze_hooks(struct run *R) {
        R->n_freeze_hooks = R->hooks.n;
        R->n_freeze_hooks_failed = qz_hooks_freeze(&R->hooks, R->m);
}

/* 0 (frozen, or nothing to freeze, or the freeze failed and
 * --allow-crash-consistent goes on without it), or -errno: stop. */
static int freeze(struct run *R) {
        _cleanup_free_ const char **paths = calloc(R->nT ? R->nT : 1, sizeof(*paths));
        size_t n = 0;
        if (!paths)
                abort();
        for (size_t i = 0; i < R->nT; i++)
                if (R->T[i].freeze)
                        paths[n++] = R->T[i].realpath;
        if (run_interrupted(R)) {
                run_say(R, "interrupted before the freeze");
                return -EINTR;
        }
        if (n == 0)
                return 0;
        R->freeze_t = qz_now();
        R->quiet = true; /* from here until the thaw, nothing is printed */
        int e = qz_client_freeze(R->c, paths, n, R->o->timeout_ms, 0, &R->hold);
        if (e < 0) {
                R->hold = NULL;
                R->quiet = false;
                /* a writer that made quiesced refuse it: in the report, with its answers */
                const qz_writer_report *refuser = qz_client_error_writer(R->c);
                if (refuser) {
                        qz_snap_writers_from_reports(R->m, refuser, 1);
                        R->m->writers[0].refused = true;
                }
                run_say(R, "%s", *qz_client_error(R->c) ? qz_client_error(R->c) : strerror(-e));
                if (!R->o->allow_crash_consistent)
                        return e;
                run_say(R, "going on without the freeze (--allow-crash-consistent)");
                run_note(R->m, "the freeze failed (%s); snapshot taken without it", qz_client_error(R->c));
                R->freeze_failed = true;
                return 0;
        }
        /* The hold's deadline runs from its grant, after the writers' phases
         * (which may take their prepare timeout): the take's budget and the
         * frozen time count from there, as quiesced's deadline does. */
        usec_t granted = qz_now();
        int64_t spent_ms =
                R->hold->remaining_ms != QZ_NO_DEADLINE ? R->o->timeout_ms - R->hold->remaining_ms : 0;
        if (spent_ms > 0 && (usec_t)spent_ms * USEC_PER_MSEC < granted - R->freeze_t)
                granted -= (usec_t)spent_ms * USEC_PER_MSEC;
        R->freeze_t = granted;
        R->m->hold = (int64_t)R->hold->id;
        qz_snap_writers_from_hold(R->m, R->hold); /* what they answered; checked again after the take */
        for (size_t i = 0; i < R->nT; i++) {
                if (!R->T[i].freeze)
                        continue;
                R->m->fs[i].frozen = true;
                const qz_fs_ref *ref = run_hold_fs(R->hold, R->T[i].id);
                if (ref)
                        R->m->fs[i].stall_ms = ref->stall_ms;
        }
        return 0;
}

/* ---- 5. take: the providers, within the deadline ---- */

static void take(struct run *R) {
        /* frozen: the deadline less the margin kept for the check and the thaw */
        int64_t budget_ms = R->hold ? R->o->timeout_ms - R->margin : R->o->timeout_ms;
        usec_t end =
                (R->hold ? R->freeze_t : qz_now()) + (usec_t)(budget_ms > 0 ? budget_ms : 0) * USEC_PER_MSEC;
        for (size_t i = 0; i < R->nT; i++) {
                qz_snap_fs *f = &R->m->fs[i];
                if (run_interrupted(R))
                        f->error = xstrdup("interrupted before its snapshot");
                else if (qz_now() >= end)
                        f->error = xstrdup("not taken: the deadline had passed");
                else
                        R->T[i].provider->take(&R->ctx, &R->T[i], f, end, &R->pending[i]);
        }
}

/* ---- 6. verify and thaw ---- */

/* Is the hold whole, and did every freeze hold? quiesced probes each
 * filesystem now (DESIGN.md, "Proof of a freeze"). */
static void verify(struct run *R) {
        qz_hold *checked = NULL;
        int e = qz_client_verify_hold(R->c, R->hold->id, CHECK_RESET_MS, &checked);
        if (checked) /* a writer that went away during the take is lost now */
                qz_snap_writers_from_hold(R->m, checked);
        const char *why = e < 0 && e != -QZ_EBROKEN ? qz_client_error(R->c) : "";
        _cleanup_free_ char *because = *why ? xasprintf(": %s", why) : NULL;
        for (size_t i = 0; i < R->nT; i++) {
                qz_snap_fs *f = &R->m->fs[i];
                const qz_target *t = &R->T[i];
                if (!f->frozen)
                        continue;
                const qz_fs_ref *ref = run_hold_fs(checked, t->id);
                if (ref)
                        run_proof_from_ref(&f->proof, ref);
                f->frozen_throughout = ref && ref->held;
                if (!ref)
                        run_note(R->m, "%s (%s %s) did not stay frozen until its snapshot ended%s", t->path,
                                 t->fstype, t->id, because ? because : "");
                else if (!ref->held)
                        run_note(R->m, "%s (%s %s): %s", t->path, t->fstype, t->id,
                                 ref->proof.breach ? ref->proof.breach
                                                   : "its freeze was lifted by another process");
        }
        qz_hold_free(checked);
}

/* Releases the hold; each filesystem's frozen time is quiesced's (a breach
 * after the providers ended does not touch the snapshot). */
static void thaw(struct run *R) {
        qz_thaw_report *rep = NULL;
        int e = qz_client_thaw_hold_report(R->c, R->hold->id, &rep);
        int64_t frozen_ms = (int64_t)((qz_now() - R->freeze_t) / USEC_PER_MSEC);
        for (size_t i = 0; i < R->nT; i++)
                if (R->m->fs[i].frozen) {
                        const qz_release *rel = qz_thaw_report_find(rep, R->T[i].id);
                        R->m->fs[i].frozen_ms = rel && rel->frozen_ms >= 0 ? rel->frozen_ms : frozen_ms;
                }
        qz_thaw_report_free(rep);
        /* the longest any filesystem was frozen (quiesced counts from the FIFREEZE,
         * slightly before the grant) */
        for (size_t i = 0; i < R->nT; i++)
                if (R->m->fs[i].frozen && R->m->fs[i].frozen_ms > frozen_ms)
                        frozen_ms = R->m->fs[i].frozen_ms;
        R->m->frozen_ms = frozen_ms;
        if (e < 0 && e != -EINVAL && e != -QZ_EBROKEN) {
                /* closing the connection releases the hold too */
                qz_client_close(R->c);
                R->c = NULL;
        }
}

static void verify_and_thaw(struct run *R) {
        if (R->hold) {
                verify(R);
                thaw(R);
        }
        run_speak_again(R);
        /* Providers stuck in the kernel get a last chance now that all is thawed. */
        for (size_t i = 0; i < R->nT; i++)
                if (R->pending[i] > 0 && !qz_child_reap(R->pending[i], PENDING_REAP_MS * USEC_PER_MSEC, NULL))
                        run_note(R->m,
                                 "the provider process %d for %s is still blocked in the kernel; left behind",
                                 (int)R->pending[i], R->T[i].path);
}

/* ---- 7. label: finish each snapshot, then what the evidence supports ---- */

static void label(struct run *R) {
        qz_manifest *m = R->m;
        for (size_t i = 0; i < R->nT; i++) {
                R->T[i].provider->finish(&R->ctx, &R->T[i], &m->fs[i]);
                /* atomic by itself (btrfs); lvm says so in take() when lvcreate's own
                 * device-mapper suspend froze the filesystem (not quiesce) */
                m->fs[i].atomic =
                        (R->T[i].provider->atomic || m->fs[i].atomic) && m->fs[i].snapshot && !m->fs[i].error;
        }
        /* an expected writer that was not asked did not acknowledge either */
        size_t not_asked = 0;
        for (size_t k = 0; k < R->o->n_writers; k++) {
                _cleanup_free_ char *why = NULL;
                bool seen = false;
                for (size_t i = 0; i < m->n_writers; i++)
                        seen |= m->writers[i].name && strcmp(m->writers[i].name, R->o->writers[k]) == 0;
                if (!seen && !qz_snap_writer_acknowledged(m, R->o->writers[k], &why)) {
                        run_note(m, "%s", why);
                        not_asked++;
                }
        }
        qz_label_input li = {.no_freeze = R->o->no_freeze,
                             .freeze_failed = R->freeze_failed,
                             .n_fs = R->nT,
                             .n_freeze_hooks = R->n_freeze_hooks,
                             .n_freeze_hooks_failed = R->n_freeze_hooks_failed,
                             .n_writers = m->n_writers + not_asked,
                             .n_writers_unacked = qz_snap_writers_unacknowledged(m) + not_asked};
        const qz_snap_proof *first_breach = NULL;
        for (size_t i = 0; i < R->nT; i++) {
                const qz_snap_fs *f = &m->fs[i];
                if (f->error || !f->snapshot)
                        li.provider_failed = true;
                if ((f->frozen_throughout || f->atomic) && !f->error)
                        li.n_fs_consistent++;
                if (f->proof.known && !f->proof.held) {
                        li.n_fs_broken++;
                        if (!first_breach && f->proof.breach)
                                first_breach = &f->proof;
                }
        }
        const char *why;
        m->label = qz_label_decide(&li, &why);
        if (li.n_fs_broken && first_breach && !R->o->no_freeze && !R->freeze_failed && !li.provider_failed)
                m->label_reason = xasprintf("%s: %s", why, first_breach->breach);
        else
                m->label_reason = xstrdup(why);
}

/* ---- 8. write the manifest (when a snapshot was made) ---- */

static int write_manifest(struct run *R) {
        qz_manifest *m = R->m;
        size_t made = 0;
        m->duration_ms = (int64_t)((qz_now() - R->t0) / USEC_PER_MSEC);
        for (size_t i = 0; i < R->nT; i++) {
                if (m->fs[i].error)
                        run_say(R, "%s: %s", m->fs[i].path, m->fs[i].error);
                if (m->fs[i].snapshot)
                        made++;
        }
        if (made == 0) {
                run_say(R, "no snapshot was made");
                return -EIO;
        }
        int e = qz_manifest_write(R->store, m);
        if (e < 0) {
                run_say(R, "cannot write the manifest %s/%s.json: %s", R->store, R->name, strerror(-e));
                for (size_t i = 0; i < R->nT; i++)
                        if (m->fs[i].snapshot)
                                run_say(R, "the snapshot of %s is kept at %s", m->fs[i].path,
                                        m->fs[i].snapshot);
        }
        return e;
}

static void run_done(struct run *R) {
        qz_reservation_release(&R->resv); /* the manifest is written, or nothing is kept */
        run_speak_again(R);
        if (R->hooks_loaded)
                qz_hooks_done(&R->hooks);
        qz_hold_free(R->hold);
        qz_status_free(R->status);
        if (R->c)
                qz_client_close(R->c);
        for (size_t i = 0; i < R->nT; i++)
                qz_target_done(&R->T[i]);
        free(R->T);
        free(R->pending);
        free(R->store);
}

int qz_snapshot_take(const qz_snapshot_opts *o, qz_manifest **ret) {
        struct run R = {.o = o, .t0 = qz_now(), .name = o->name ? o->name : "(default)", .resv = {.fd = -1}};
        *ret = NULL;
        int r = run_plan(&R);
        if (r >= 0)
                r = run_check_and_prepare(&R);
        if (r >= 0) {
                freeze_hooks(&R);
                r = freeze(&R);
                if (r >= 0) {
                        take(&R);
                        verify_and_thaw(&R);
                }
                run_speak_again(&R);
                qz_hooks_thaw(&R.hooks, R.m);
        }
        if (r >= 0) {
                label(&R);
                r = write_manifest(&R);
        }
        run_done(&R);
        if (R.m && R.m->duration_ms == 0)
                R.m->duration_ms = (int64_t)((qz_now() - R.t0) / USEC_PER_MSEC);
        *ret = R.m;
        return r;
}
