/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot.c - taking a snapshot, as its steps (docs/snapshots.md): plan
 * (the name, every path resolved and given a provider), check and prepare
 * (before anything is frozen), freeze hooks, one group freeze through
 * quiesced, take (the providers within the deadline), verify and thaw (the
 * hold checked whole, then released), thaw hooks, label, write (the
 * manifest). What differs between providers is theirs (provider.h flags and
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
#include "template.h"
#include "xalloc.h"

#define CHECK_RESET_MS 2000  /* the hold's deadline while we check it and thaw */
#define PENDING_REAP_MS 5000 /* after the thaw, how long to wait for a provider stuck in the kernel */

void qz_snapshot_opts_init(qz_snapshot_opts *o) {
        memset(o, 0, sizeof(*o));
        o->exec_timeout_ms = -1;
        o->timeout_ms = QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS;
        o->hook_timeout_ms = QZ_HOOK_DEFAULT_TIMEOUT_MS;
}

/* ---- one run ---- */

struct run {
        const qz_snapshot_opts *o;
        usec_t t0;

        /* messages: queued while something is frozen */
        bool quiet;
        char **queued;
        size_t n_queued;

        /* plan */
        const qz_provider *forced; /* --provider, or exec for --exec-cmd; NULL: auto */
        char *store;
        qz_reservation resv;
        const char *name; /* the reserved one */
        qz_target *T;
        size_t nT;
        qz_manifest *m;

        /* check and prepare */
        qz_client *c; /* NULL: --no-freeze, or nothing to freeze and no quiesced */
        qz_status *status;
        qz_snap_ctx ctx;
        int64_t margin; /* of the deadline, kept for the check and the thaw */
        qz_hooks hooks;
        bool hooks_loaded;
        pid_t *pending; /* per target: a provider's child stuck in the kernel */

        /* hooks, freeze */
        size_t n_freeze_hooks, n_freeze_hooks_failed;
        qz_hold *hold; /* NULL: nothing frozen */
        bool freeze_failed;
        usec_t freeze_t; /* when the freeze was asked for */
};

static void say(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct run *R, const char *fmt, ...) {
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

static void speak_again(struct run *R) {
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

static void add_note(qz_manifest *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(qz_manifest *m, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        m->notes = realloc(m->notes, (m->n_notes + 1) * sizeof(*m->notes));
        if (!m->notes)
                abort();
        m->notes[m->n_notes++] = s;
}

static bool interrupted(const struct run *R) {
        return R->o->interrupted && *R->o->interrupted;
}

static void proof_from_ref(qz_snap_proof *p, const qz_fs_ref *ref) {
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

static const qz_fs_ref *hold_fs(const qz_hold *h, const char *id) {
        for (size_t j = 0; h && j < h->n_fs; j++)
                if (strcmp(h->fs[j].id, id) == 0)
                        return &h->fs[j];
        return NULL;
}

static void iso_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

/* ---- 1. plan: the options, the name, every path and its provider ---- */

static int plan_options(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        if (o->name && !qz_snapshot_name_valid(o->name)) {
                say(R,
                    "invalid snapshot name '%s' (1 to %d of A-Z a-z 0-9 . _ + -, not starting with '.' or "
                    "'-')",
                    o->name, QZ_SNAPSHOT_NAME_MAX);
                return -EINVAL;
        }
        if (o->timeout_ms <= 0) {
                say(R, "a snapshot needs a finite --timeout");
                return -EINVAL;
        }
        if (o->provider && strcmp(o->provider, "auto") != 0) {
                R->forced = qz_provider_by_name(o->provider);
                if (!R->forced) {
                        say(R, "unknown provider '%s' (reflink, btrfs, exec, lvm)", o->provider);
                        return -EINVAL;
                }
        } else if (o->exec_cmd)
                R->forced = &qz_provider_exec;
        return 0;
}

/* Is t what T[j] snapshots already (one filesystem; for a provider that
 * snapshots subvolumes, one subvolume)? */
static bool same_snapshot(const qz_target *t, const qz_target *u) {
        if (strcmp(t->id, u->id) != 0 || t->provider != u->provider)
                return false;
        return !t->provider->per_subvolume ||
               (t->subvolume && u->subvolume && strcmp(t->subvolume, u->subvolume) == 0);
}

/* Resolves every path and gives it its provider; refuses before anything happens. */
static int plan_targets(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        int r = 0;
        R->T = calloc(o->n_paths ? o->n_paths : 1, sizeof(*R->T));
        if (!R->T)
                abort();
        for (size_t i = 0; i < o->n_paths; i++) {
                qz_target t;
                char err[1024]; /* target.c's buffer (its API is the mountinfo helper's) */
                int e = qz_target_resolve(o->paths[i], &t, err, sizeof(err));
                if (e < 0) {
                        say(R, "%s", err);
                        r = r ? r : e;
                        qz_target_done(&t);
                        continue;
                }
                t.provider = R->forced ? R->forced : qz_provider_auto(t.fstype);
                t.freeze = t.provider->freezes && !o->no_freeze;
                bool dup = false;
                for (size_t j = 0; j < R->nT; j++)
                        if (same_snapshot(&t, &R->T[j])) {
                                add_note(R->m, "%s is on the same filesystem as %s (%s %s); snapshotted once",
                                         t.path, R->T[j].path, t.fstype, t.id);
                                dup = true;
                        }
                if (dup)
                        qz_target_done(&t);
                else
                        R->T[R->nT++] = t;
        }
        return r;
}

static int plan(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        int r = plan_options(R);
        if (r < 0)
                return r;
        R->store = qz_store_dir(o->store);
        R->m = qz_manifest_new();
        char created[32];
        iso_now(created, sizeof(created));
        R->m->name = xstrdup(R->name);
        R->m->created = xstrdup(created);
        R->m->no_freeze = o->no_freeze;
        R->m->exec_delete = xstrdup(o->exec_delete);

        /* The name is ours (STORE/.NAME.reserved) until the manifest is written. */
        _cleanup_free_ char *error = NULL;
        if ((r = qz_snapshot_reserve(R->store, o->name, &R->resv, &error)) < 0) {
                say(R, "%s", error);
                return r;
        }
        R->name = R->resv.name;
        free(R->m->name);
        R->m->name = xstrdup(R->name);
        return plan_targets(R);
}

/* ---- 2. check and prepare: quiesced, the providers, the store, the hooks ---- */

static int connect_quiesced(struct run *R) {
        if (R->o->no_freeze)
                return 0;
        bool any_freeze = false;
        for (size_t i = 0; i < R->nT; i++)
                any_freeze |= R->T[i].freeze;
        int e = qz_client_open(R->o->socket, &R->c);
        if (e < 0) {
                R->c = NULL;
                if (!any_freeze)
                        return 0; /* btrfs alone needs no freeze */
                const char *why = qz_client_error(NULL);
                say(R, "%s", why && *why ? why : strerror(-e));
                return e;
        }
        if (qz_client_status(R->c, &R->status) < 0)
                R->status = NULL;
        return 0;
}

/* hooks run in "/": they get the paths absolute */
static int load_hooks(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        _cleanup_free_ char *error = NULL;
        char **abs = calloc(o->n_paths + 1, sizeof(*abs));
        if (!abs)
                abort();
        for (size_t i = 0; i < o->n_paths; i++) {
                abs[i] = realpath(o->paths[i], NULL);
                if (!abs[i])
                        abs[i] = xstrdup(o->paths[i]);
        }
        int e = qz_hooks_load(&R->hooks, o->hooks_dir ? o->hooks_dir : QZ_DEFAULT_HOOKS_DIR, R->name,
                              (const char *const *)abs, o->n_paths,
                              o->hook_timeout_ms > 0 ? o->hook_timeout_ms : QZ_HOOK_DEFAULT_TIMEOUT_MS, R->m,
                              &error);
        qz_strv_free(abs);
        if (e < 0) {
                say(R, "%s", error);
                return e;
        }
        R->hooks_loaded = true;
        R->hooks.interrupted = o->interrupted;
        return 0;
}

/* The manifest's filesystems, one per target, before anything is taken. */
static void describe_targets(struct run *R) {
        qz_manifest *m = R->m;
        m->n_fs = R->nT;
        m->fs = calloc(R->nT ? R->nT : 1, sizeof(*m->fs));
        if (!m->fs)
                abort();
        bool mixed = false;
        for (size_t i = 0; i < R->nT; i++) {
                qz_snap_fs *f = &m->fs[i];
                const qz_target *t = &R->T[i];
                f->path = xstrdup(t->path);
                f->mountpoint = xstrdup(t->mountpoint);
                snprintf(f->id, sizeof(f->id), "%s", t->id);
                f->fstype = xstrdup(t->fstype);
                f->source = xstrdup(t->source);
                f->backing_file = xstrdup(t->backing_file);
                f->provider = xstrdup(t->provider->name);
                if (t->provider->per_subvolume)
                        f->subvolume = xstrdup(t->subvolume);
                f->size_bytes = f->stall_ms = f->frozen_ms = -1;
                mixed |= t->provider != R->T[0].provider;
        }
        m->provider = xstrdup(mixed       ? "mixed"
                              : R->nT     ? R->T[0].provider->name
                              : R->forced ? R->forced->name
                                          : "none");
}

static int check_and_prepare(struct run *R) {
        int r = connect_quiesced(R);
        if (r < 0)
                return r;
        R->margin = clamp(R->o->timeout_ms / 5, 200, 2000);
        R->ctx = (qz_snap_ctx){.opts = R->o,
                               .name = R->name,
                               .targets = R->T,
                               .n_targets = R->nT,
                               .status = R->status,
                               .kill_grace = (usec_t)clamp(R->margin / 2, 50, 1000) * USEC_PER_MSEC,
                               .reap_wait = (usec_t)clamp(R->margin / 4, 50, 500) * USEC_PER_MSEC,
                               .hold_fd = R->c ? qz_client_fd(R->c) : -1};
        for (size_t i = 0; i < R->nT; i++) {
                _cleanup_free_ char *error = NULL;
                int e = R->T[i].provider->check(&R->ctx, &R->T[i], &error);
                if (e < 0) {
                        say(R, "%s", error);
                        r = r ? r : e;
                }
        }
        if (r < 0)
                return r;

        r = qz_mkdir_p(R->store, 0755, NULL); /* made with the reservation; here if removed since */
        if (r < 0) {
                say(R, "cannot create the snapshot store %s: %s", R->store, strerror(-r));
                return r;
        }
        for (size_t i = 0; i < R->nT; i++) {
                _cleanup_free_ char *error = NULL;
                if (R->T[i].provider->prepare &&
                    (r = R->T[i].provider->prepare(&R->ctx, &R->T[i], &error)) < 0) {
                        say(R, "%s", error);
                        return r;
                }
        }
        if ((r = load_hooks(R)) < 0)
                return r;
        describe_targets(R);
        R->pending = calloc(R->nT ? R->nT : 1, sizeof(*R->pending));
        if (!R->pending)
                abort();
        return 0;
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
        if (interrupted(R)) {
                say(R, "interrupted before the freeze");
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
                say(R, "%s", *qz_client_error(R->c) ? qz_client_error(R->c) : strerror(-e));
                if (!R->o->allow_crash_consistent)
                        return e;
                say(R, "going on without the freeze (--allow-crash-consistent)");
                add_note(R->m, "the freeze failed (%s); snapshot taken without it", qz_client_error(R->c));
                R->freeze_failed = true;
                return 0;
        }
        R->m->hold = (int64_t)R->hold->id;
        for (size_t i = 0; i < R->nT; i++) {
                if (!R->T[i].freeze)
                        continue;
                R->m->fs[i].frozen = true;
                const qz_fs_ref *ref = hold_fs(R->hold, R->T[i].id);
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
                if (interrupted(R))
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
        const char *why = e < 0 && e != -QZ_EBROKEN ? qz_client_error(R->c) : "";
        _cleanup_free_ char *because = *why ? xasprintf(": %s", why) : NULL;
        for (size_t i = 0; i < R->nT; i++) {
                qz_snap_fs *f = &R->m->fs[i];
                const qz_target *t = &R->T[i];
                if (!f->frozen)
                        continue;
                const qz_fs_ref *ref = hold_fs(checked, t->id);
                if (ref)
                        proof_from_ref(&f->proof, ref);
                f->frozen_throughout = ref && ref->held;
                if (!ref)
                        add_note(R->m, "%s (%s %s) did not stay frozen until its snapshot ended%s", t->path,
                                 t->fstype, t->id, because ? because : "");
                else if (!ref->held)
                        add_note(R->m, "%s (%s %s): %s", t->path, t->fstype, t->id,
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
        speak_again(R);
        /* Providers stuck in the kernel get a last chance now that all is thawed. */
        for (size_t i = 0; i < R->nT; i++)
                if (R->pending[i] > 0 && !qz_child_reap(R->pending[i], PENDING_REAP_MS * USEC_PER_MSEC, NULL))
                        add_note(R->m,
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
        qz_label_input li = {.no_freeze = R->o->no_freeze,
                             .freeze_failed = R->freeze_failed,
                             .n_fs = R->nT,
                             .n_freeze_hooks = R->n_freeze_hooks,
                             .n_freeze_hooks_failed = R->n_freeze_hooks_failed};
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
                        say(R, "%s: %s", m->fs[i].path, m->fs[i].error);
                if (m->fs[i].snapshot)
                        made++;
        }
        if (made == 0) {
                say(R, "no snapshot was made");
                return -EIO;
        }
        int e = qz_manifest_write(R->store, m);
        if (e < 0) {
                say(R, "cannot write the manifest %s/%s.json: %s", R->store, R->name, strerror(-e));
                for (size_t i = 0; i < R->nT; i++)
                        if (m->fs[i].snapshot)
                                say(R, "the snapshot of %s is kept at %s", m->fs[i].path, m->fs[i].snapshot);
        }
        return e;
}

static void run_done(struct run *R) {
        qz_reservation_release(&R->resv); /* the manifest is written, or nothing is kept */
        speak_again(R);
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
        int r = plan(&R);
        if (r >= 0)
                r = check_and_prepare(&R);
        if (r >= 0) {
                freeze_hooks(&R);
                r = freeze(&R);
                if (r >= 0) {
                        take(&R);
                        verify_and_thaw(&R);
                }
                speak_again(&R);
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
