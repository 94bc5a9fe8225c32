/* SPDX-License-Identifier: GPL-2.0-or-later */
/* plan.c - the first two steps of a snapshot run (run.h): plan (the options,
 * the name, every path resolved and given a provider) and check and prepare
 * (quiesced, the providers, the store, the hooks), all before anything is
 * frozen.
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

/* ---- 1. plan: the options, the name, every path and its provider ---- */

static int plan_options(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        if (o->name && !qz_snapshot_name_valid(o->name)) {
                run_say(R, "invalid snapshot name '%s' " QZ_SNAPSHOT_NAME_RULE, o->name);
                return -EINVAL;
        }
        if (o->job && !qz_snapshot_name_valid(o->job)) {
                run_say(R, "invalid job name '%s' " QZ_SNAPSHOT_NAME_RULE, o->job);
                return -EINVAL;
        }
        if (o->timeout_ms <= 0) {
                run_say(R, "a snapshot needs a finite --timeout");
                return -EINVAL;
        }
        if (o->provider && strcmp(o->provider, "auto") != 0) {
                R->forced = qz_provider_by_name(o->provider);
                if (!R->forced) {
                        run_say(R, "unknown provider '%s' (reflink, btrfs, exec, lvm)", o->provider);
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
                _cleanup_free_ char *err = NULL;
                int e = qz_target_resolve(o->paths[i], &t, &err);
                if (e < 0) {
                        run_say(R, "%s", err);
                        r = r ? r : e;
                        qz_target_done(&t);
                        continue;
                }
                t.provider = R->forced ? R->forced : qz_provider_auto(t.fstype);
                t.freeze = t.provider->freezes && !o->no_freeze;
                bool dup = false;
                for (size_t j = 0; j < R->nT; j++)
                        if (same_snapshot(&t, &R->T[j])) {
                                run_note(R->m, "%s is on the same filesystem as %s (%s %s); snapshotted once",
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

int run_plan(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        int r = plan_options(R);
        if (r < 0)
                return r;
        R->store = qz_store_dir(o->store);
        R->m = qz_manifest_new();
        char created[32];
        run_iso_now(created, sizeof(created));
        R->m->name = xstrdup(R->name);
        R->m->created = xstrdup(created);
        R->m->no_freeze = o->no_freeze;
        R->m->exec_delete = xstrdup(o->exec_delete);
        R->m->job = xstrdup(o->job);

        /* The name is ours (STORE/.NAME.reserved) until the manifest is written. */
        _cleanup_free_ char *error = NULL;
        if ((r = qz_snapshot_reserve(R->store, o->name, &R->resv, &error)) < 0) {
                run_say(R, "%s", error);
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
                run_say(R, "%s", why && *why ? why : strerror(-e));
                return e;
        }
        if (qz_client_status(R->c, &R->status) < 0)
                R->status = NULL;
        return 0;
}

/* The writers the caller expects (opts.writers) are registered for the
 * filesystems to freeze, as Status says now: else nothing is frozen. */
static int check_writers(struct run *R) {
        const qz_snapshot_opts *o = R->o;
        if (o->n_writers == 0)
                return 0;
        _cleanup_free_ char *job = o->job ? xasprintf("job %s: ", o->job) : xstrdup("");
        _cleanup_free_ const char **ids = calloc(R->nT + 1, sizeof(*ids));
        char **names = calloc(R->nT + 1, sizeof(*names));
        if (!ids || !names)
                abort();
        size_t n = 0;
        for (size_t i = 0; i < R->nT; i++)
                if (R->T[i].freeze) {
                        ids[n] = R->T[i].id;
                        names[n++] = xasprintf("%s (%s %s)", R->T[i].mountpoint, R->T[i].fstype, R->T[i].id);
                }
        int r = 0;
        if (n == 0) {
                run_say(R, "%swriter \"%s\" cannot take part: nothing is frozen (%s)", job, o->writers[0],
                        o->no_freeze ? "no-freeze" : "the provider snapshots without a freeze");
                r = -EINVAL;
        } else if (!R->status) {
                run_say(R, "%scannot ask quiesced which writers are registered: %s; nothing was frozen", job,
                        R->c ? qz_client_error(R->c) : "not connected");
                r = -EIO;
        } else
                for (size_t k = 0; k < o->n_writers; k++)
                        if (!qz_snap_writer_registered(R->status, o->writers[k], ids, n, NULL)) {
                                _cleanup_free_ char *why = qz_snap_writer_missing(
                                        R->status, o->writers[k], (const char *const *)names, n);
                                run_say(R, "%s%s; nothing was frozen", job, why);
                                r = -ESRCH;
                        }
        qz_strv_free(names);
        return r;
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
                run_say(R, "%s", error);
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

int run_check_and_prepare(struct run *R) {
        int r = connect_quiesced(R);
        if (r < 0)
                return r;
        if ((r = check_writers(R)) < 0)
                return r;
        R->margin = run_clamp(R->o->timeout_ms / 5, 200, 2000);
        R->ctx = (qz_snap_ctx){.opts = R->o,
                               .name = R->name,
                               .targets = R->T,
                               .n_targets = R->nT,
                               .status = R->status,
                               .kill_grace = (usec_t)run_clamp(R->margin / 2, 50, 1000) * USEC_PER_MSEC,
                               .reap_wait = (usec_t)run_clamp(R->margin / 4, 50, 500) * USEC_PER_MSEC,
                               .hold_fd = R->c ? qz_client_fd(R->c) : -1};
        for (size_t i = 0; i < R->nT; i++) {
                _cleanup_free_ char *error = NULL;
                int e = R->T[i].provider->check(&R->ctx, &R->T[i], &error);
                if (e < 0) {
                        run_say(R, "%s", error);
                        r = r ? r : e;
                }
        }
        if (r < 0)
                return r;

        r = qz_mkdir_p(R->store, 0755, NULL); /* made with the reservation; here if removed since */
        if (r < 0) {
                run_say(R, "cannot create the snapshot store %s: %s", R->store, strerror(-r));
                return r;
        }
        for (size_t i = 0; i < R->nT; i++) {
                _cleanup_free_ char *error = NULL;
                if (R->T[i].provider->prepare &&
                    (r = R->T[i].provider->prepare(&R->ctx, &R->T[i], &error)) < 0) {
                        run_say(R, "%s", error);
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
