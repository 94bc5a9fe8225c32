/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot.c - taking a snapshot, step by step (docs/snapshots.md): resolve
 * and check every path before anything is frozen, freeze hooks, one group
 * freeze through quiesced, the providers within the deadline, the hold
 * checked whole, thaw, thaw hooks, label, manifest; and deleting one.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "mkdirp.h"
#include "hooks.h"
#include "provider.h"
#include "xalloc.h"

#define CHECK_RESET_MS 2000  /* the hold's deadline while we check it and thaw */
#define PENDING_REAP_MS 5000 /* after the thaw, how long to wait for a provider stuck in the kernel */

void qz_snapshot_opts_init(qz_snapshot_opts *o) {
        memset(o, 0, sizeof(*o));
        o->exec_timeout_ms = -1;
        o->timeout_ms = QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS;
        o->hook_timeout_ms = QZ_HOOK_DEFAULT_TIMEOUT_MS;
}

const qz_provider *qz_provider_by_name(const char *name) {
        if (!name)
                return NULL;
        if (strcmp(name, "reflink") == 0)
                return &qz_provider_reflink;
        if (strcmp(name, "btrfs") == 0)
                return &qz_provider_btrfs;
        if (strcmp(name, "exec") == 0)
                return &qz_provider_exec;
        if (strcmp(name, "lvm") == 0)
                return &qz_provider_lvm;
        return NULL;
}

void qz_take_in_child(const qz_snap_ctx *ctx, int (*fn)(void *arg), void *arg, const char *what,
                      const char *location, int64_t deadline_ms, qz_snap_fs *f, pid_t *pending) {
        qz_child_spec s = {.fn = fn,
                           .arg = arg,
                           .exec_fd = -1,
                           .merge_stderr = true,
                           .deadline = qz_usec_from_ms(deadline_ms),
                           .kill_grace = ctx->kill_grace,
                           .reap_wait = ctx->reap_wait,
                           .interrupted = ctx->opts->interrupted};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        if (e < 0) {
                f->error = xasprintf("cannot start the %s: %s", what, strerror(-e));
                return;
        }
        if (!r.reaped)
                *pending = r.pid;
        char line[512];
        if (r.interrupted)
                f->error = xasprintf("interrupted; %s killed", what);
        else if (r.timed_out)
                f->error = xasprintf("%s did not finish within the deadline; killed", what);
        else if (!r.reaped || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
                /* The child's own message names the call and the path. */
                char how[64];
                f->error =
                        *qz_child_first_line(&r, line, sizeof(line))
                                ? xstrdup(line)
                                : xasprintf("%s failed: %s", what, qz_child_describe(&r, how, sizeof(how)));
        } else
                f->snapshot = xstrdup(location);
        qz_child_result_done(&r);
}

int64_t qz_snapshot_size_of(const char *path) {
        struct stat st;
        if (!path || path[0] != '/' || stat(path, &st) < 0)
                return -1;
        if (S_ISREG(st.st_mode))
                return st.st_size;
        if (!S_ISBLK(st.st_mode))
                return -1;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        uint64_t sz;
        bool ok = fd >= 0 && ioctl(fd, BLKGETSIZE64, &sz) == 0;
        if (fd >= 0)
                close(fd);
        return ok ? (int64_t)sz : -1;
}

bool qz_ctx_fs_frozen(const qz_snap_ctx *ctx, const char *id, char *holds, size_t size) {
        bool frozen = false;
        if (size)
                holds[0] = '\0';
        for (size_t i = 0; ctx->status && i < ctx->status->n_fs; i++) {
                const qz_fs_status *f = &ctx->status->fs[i];
                if (strcmp(f->fs.id, id) != 0 || strcmp(f->state, "thawed") == 0)
                        continue;
                frozen = true;
                for (size_t j = 0; j < f->n_holds; j++) {
                        size_t l = strlen(holds);
                        snprintf(holds + l, size - l, "%s%llu", l ? ", " : "",
                                 (unsigned long long)f->holds[j].id);
                }
        }
        return frozen;
}

/* ---- one run ---- */

struct run {
        const qz_snapshot_opts *o;
        bool quiet; /* something is frozen: queue messages */
        char **queued;
        size_t n_queued;
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

/* The thaw reply: how long filesystem id was frozen, or -1. */
static int64_t released_frozen_ms(json_object *reply, const char *id) {
        json_object *rel;
        if (!reply || !json_object_object_get_ex(reply, "released", &rel) ||
            !json_object_is_type(rel, json_type_array))
                return -1;
        for (size_t i = 0; i < json_object_array_length(rel); i++) {
                json_object *e = json_object_array_get_idx(rel, i), *fs, *v, *ms;
                if (json_object_object_get_ex(e, "filesystem", &fs) &&
                    json_object_object_get_ex(fs, "id", &v) && strcmp(json_object_get_string(v), id) == 0 &&
                    json_object_object_get_ex(e, "frozen_ms", &ms))
                        return json_object_get_int64(ms);
        }
        return -1;
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

static void iso_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
        return v < lo ? lo : v > hi ? hi : v;
}

int qz_snapshot_take(const qz_snapshot_opts *o, qz_manifest **ret) {
        struct run R = {.o = o};
        int64_t t0 = qz_now_ms();
        char err[1024];
        const char *name = o->name ? o->name : "(default)"; /* the reserved one from below */
        qz_reservation resv = {.fd = -1};
        int r = 0;
        *ret = NULL;

        if (o->name && !qz_snapshot_name_valid(name)) {
                say(&R,
                    "invalid snapshot name '%s' (1 to %d of A-Z a-z 0-9 . _ + -, not starting with '.' or "
                    "'-')",
                    name, QZ_SNAPSHOT_NAME_MAX);
                return -EINVAL;
        }
        if (o->timeout_ms <= 0) {
                say(&R, "a snapshot needs a finite --timeout");
                return -EINVAL;
        }
        const qz_provider *forced = NULL;
        if (o->provider && strcmp(o->provider, "auto") != 0) {
                forced = qz_provider_by_name(o->provider);
                if (!forced) {
                        say(&R, "unknown provider '%s' (reflink, btrfs, exec, lvm)", o->provider);
                        return -EINVAL;
                }
        } else if (o->exec_cmd)
                forced = &qz_provider_exec;

        char *store = qz_store_dir(o->store);
        qz_manifest *m = qz_manifest_new();
        char created[32];
        iso_now(created, sizeof(created));
        m->name = xstrdup(name);
        m->created = xstrdup(created);
        m->no_freeze = o->no_freeze;
        m->exec_delete = xstrdup(o->exec_delete);

        qz_target *T = calloc(o->n_paths ? o->n_paths : 1, sizeof(*T));
        size_t nT = 0;
        qz_client *c = NULL;
        qz_status *status = NULL;
        qz_hold *hold = NULL;
        qz_hooks hooks = {0};
        pid_t *pending = NULL;
        bool hooks_loaded = false;
        if (!T)
                abort();

        /* The name is ours (STORE/.NAME.reserved) until the manifest is written. */
        if ((r = qz_snapshot_reserve(store, o->name, &resv, err, sizeof(err))) < 0) {
                say(&R, "%s", err);
                goto out;
        }
        name = resv.name;
        free(m->name);
        m->name = xstrdup(name);

        /* 1. Resolve every path; refuse before anything happens. */
        int refusals = 0;
        for (size_t i = 0; i < o->n_paths; i++) {
                qz_target t;
                int e = qz_target_resolve(o->paths[i], &t, err, sizeof(err));
                if (e < 0) {
                        say(&R, "%s", err);
                        refusals++;
                        r = r ? r : e;
                        qz_target_done(&t);
                        continue;
                }
                const qz_provider *p = forced;
                if (!p) {
                        if (strcmp(t.fstype, "btrfs") == 0)
                                p = &qz_provider_btrfs;
                        else
                                p = &qz_provider_reflink; /* refuses a filesystem that is not on a loop device
                                                           */
                }
                t.provider = p;
                t.freeze = p->freezes && !o->no_freeze;
                bool dup = false;
                for (size_t j = 0; j < nT; j++)
                        if (strcmp(T[j].id, t.id) == 0 && T[j].provider == p &&
                            (p != &qz_provider_btrfs ||
                             (t.subvolume && T[j].subvolume && strcmp(t.subvolume, T[j].subvolume) == 0))) {
                                add_note(m, "%s is on the same filesystem as %s (%s %s); snapshotted once",
                                         t.path, T[j].path, t.fstype, t.id);
                                dup = true;
                        }
                if (dup)
                        qz_target_done(&t);
                else
                        T[nT++] = t;
        }
        if (refusals)
                goto out;

        bool any_freeze = false;
        for (size_t i = 0; i < nT; i++)
                any_freeze |= T[i].freeze;
        if (!o->no_freeze) {
                int e = qz_client_open(o->socket, &c);
                if (e < 0 && any_freeze) {
                        const char *why = qz_client_error(NULL);
                        say(&R, "%s", why && *why ? why : strerror(-e));
                        r = e;
                        goto out;
                }
                if (e < 0)
                        c = NULL; /* btrfs alone needs no freeze */
                if (c && qz_client_status(c, &status) < 0)
                        status = NULL;
        }

        qz_snap_ctx ctx = {.opts = o,
                           .name = name,
                           .targets = T,
                           .n_targets = nT,
                           .status = status,
                           .hold_fd = c ? qz_client_fd(c) : -1};
        int64_t margin = clamp(o->timeout_ms / 5, 200, 2000);
        ctx.kill_grace = (usec_t)clamp(margin / 2, 50, 1000) * USEC_PER_MSEC;
        ctx.reap_wait = (usec_t)clamp(margin / 4, 50, 500) * USEC_PER_MSEC;
        for (size_t i = 0; i < nT; i++) {
                int e = T[i].provider->check(&ctx, &T[i], err, sizeof(err));
                if (e < 0) {
                        say(&R, "%s", err);
                        refusals++;
                        r = r ? r : e;
                }
        }
        if (refusals)
                goto out;

        int e = qz_mkdir_p(store, 0755, NULL); /* made with the reservation; here if removed since */
        if (e < 0) {
                say(&R, "cannot create the snapshot store %s: %s", store, strerror(-e));
                r = e;
                goto out;
        }
        for (size_t i = 0; i < nT; i++)
                if (T[i].provider->prepare &&
                    (e = T[i].provider->prepare(&ctx, &T[i], err, sizeof(err))) < 0) {
                        say(&R, "%s", err);
                        r = e;
                        goto out;
                }

        /* hooks run in "/": they get the paths absolute */
        char **abs = calloc(o->n_paths + 1, sizeof(*abs));
        if (!abs)
                abort();
        for (size_t i = 0; i < o->n_paths; i++) {
                abs[i] = realpath(o->paths[i], NULL);
                if (!abs[i])
                        abs[i] = xstrdup(o->paths[i]);
        }
        e = qz_hooks_load(&hooks, o->hooks_dir ? o->hooks_dir : QZ_DEFAULT_HOOKS_DIR, name,
                          (const char *const *)abs, o->n_paths,
                          o->hook_timeout_ms > 0 ? o->hook_timeout_ms : QZ_HOOK_DEFAULT_TIMEOUT_MS, m, err,
                          sizeof(err));
        for (size_t i = 0; i < o->n_paths; i++)
                free(abs[i]);
        free(abs);
        if (e < 0) {
                say(&R, "%s", err);
                r = e;
                goto out;
        }
        hooks_loaded = true;
        hooks.interrupted = o->interrupted;

        m->n_fs = nT;
        m->fs = calloc(nT ? nT : 1, sizeof(*m->fs));
        pending = calloc(nT ? nT : 1, sizeof(*pending));
        if (!m->fs || !pending)
                abort();
        bool mixed = false;
        for (size_t i = 0; i < nT; i++) {
                qz_snap_fs *f = &m->fs[i];
                qz_target *t = &T[i];
                f->path = xstrdup(t->path);
                f->mountpoint = xstrdup(t->mountpoint);
                snprintf(f->id, sizeof(f->id), "%s", t->id);
                f->fstype = xstrdup(t->fstype);
                f->source = xstrdup(t->source);
                f->backing_file = xstrdup(t->backing_file);
                f->provider = xstrdup(t->provider->name);
                if (t->provider == &qz_provider_btrfs)
                        f->subvolume = xstrdup(t->subvolume);
                f->size_bytes = f->stall_ms = f->frozen_ms = -1;
                mixed |= t->provider != T[0].provider;
        }
        m->provider = xstrdup(mixed ? "mixed" : nT ? T[0].provider->name : forced ? forced->name : "none");

        /* 2. Freeze hooks. */
        size_t n_freeze_hooks = hooks.n;
        size_t hooks_failed = qz_hooks_freeze(&hooks, m);

        /* 3. One group freeze. */
        bool freeze_failed = false, frozen = false;
        int64_t freeze_t = 0;
        const char **fpaths = calloc(nT ? nT : 1, sizeof(*fpaths));
        size_t n_fpaths = 0;
        if (!fpaths)
                abort();
        for (size_t i = 0; i < nT; i++)
                if (T[i].freeze)
                        fpaths[n_fpaths++] = T[i].realpath;
        if (o->interrupted && *o->interrupted) {
                say(&R, "interrupted before the freeze");
                r = -EINTR;
                free(fpaths);
                goto thaw_hooks;
        }
        if (n_fpaths) {
                freeze_t = qz_now_ms();
                R.quiet = true; /* from here until the thaw, nothing is printed */
                e = qz_client_freeze(c, fpaths, n_fpaths, o->timeout_ms, 0, &hold);
                if (e < 0) {
                        R.quiet = false;
                        say(&R, "%s", *qz_client_error(c) ? qz_client_error(c) : strerror(-e));
                        if (!o->allow_crash_consistent) {
                                r = e;
                                free(fpaths);
                                goto thaw_hooks;
                        }
                        say(&R, "going on without the freeze (--allow-crash-consistent)");
                        add_note(m, "the freeze failed (%s); snapshot taken without it", qz_client_error(c));
                        freeze_failed = true;
                } else {
                        frozen = true;
                        m->hold = (int64_t)hold->id;
                        for (size_t i = 0; i < nT; i++) {
                                if (!T[i].freeze)
                                        continue;
                                m->fs[i].frozen = true;
                                for (size_t j = 0; j < hold->n_fs; j++)
                                        if (strcmp(hold->fs[j].id, T[i].id) == 0)
                                                m->fs[i].stall_ms = hold->fs[j].stall_ms;
                        }
                }
        }
        free(fpaths);

        /* 4. The providers, within the deadline. */
        int64_t budget_end = (frozen ? freeze_t : qz_now_ms()) + o->timeout_ms - (frozen ? margin : 0);
        for (size_t i = 0; i < nT; i++) {
                if (o->interrupted && *o->interrupted) {
                        m->fs[i].error = xstrdup("interrupted before its snapshot");
                        continue;
                }
                if (qz_now_ms() >= budget_end) {
                        m->fs[i].error = xstrdup("not taken: the deadline had passed");
                        continue;
                }
                T[i].provider->take(&ctx, &T[i], &m->fs[i], budget_end, &pending[i]);
        }

        /* 5. Is the hold whole, and did every freeze hold? quiesced probes each
         * filesystem now (DESIGN.md, "Proof of a freeze"). 6. Thaw. */
        if (frozen) {
                qz_hold *checked = NULL;
                e = qz_client_verify_hold(c, hold->id, CHECK_RESET_MS, &checked);
                char why[512];
                snprintf(why, sizeof(why), "%s", e < 0 && e != -QZ_EBROKEN ? qz_client_error(c) : "");
                for (size_t i = 0; i < nT; i++) {
                        if (!m->fs[i].frozen)
                                continue;
                        const qz_fs_ref *ref = NULL;
                        for (size_t j = 0; checked && j < checked->n_fs; j++)
                                if (strcmp(checked->fs[j].id, T[i].id) == 0)
                                        ref = &checked->fs[j];
                        if (ref)
                                proof_from_ref(&m->fs[i].proof, ref);
                        m->fs[i].frozen_throughout = ref && ref->held;
                        if (!ref)
                                add_note(m, "%s (%s %s) did not stay frozen until its snapshot ended%s%s",
                                         T[i].path, T[i].fstype, T[i].id, why[0] ? ": " : "", why);
                        else if (!ref->held)
                                add_note(m, "%s (%s %s): %s", T[i].path, T[i].fstype, T[i].id,
                                         ref->proof.breach ? ref->proof.breach
                                                           : "its freeze was lifted by another process");
                }
                qz_hold_free(checked);

                e = qz_client_thaw_hold(c, hold->id);
                int64_t thawed_t = qz_now_ms();
                /* a breach after the providers ended does not touch the snapshot */
                json_object *reply = (e == 0 || e == -QZ_EBROKEN) && qz_client_last_reply(c)
                                             ? json_tokener_parse(qz_client_last_reply(c))
                                             : NULL;
                for (size_t i = 0; i < nT; i++)
                        if (m->fs[i].frozen) {
                                m->fs[i].frozen_ms = released_frozen_ms(reply, T[i].id);
                                if (m->fs[i].frozen_ms < 0)
                                        m->fs[i].frozen_ms = thawed_t - freeze_t;
                        }
                json_object_put(reply);
                m->frozen_ms = thawed_t - freeze_t;
                if (e < 0 && e != -EINVAL && e != -QZ_EBROKEN) {
                        /* closing the connection releases the hold too */
                        qz_client_close(c);
                        c = NULL;
                }
        }
        speak_again(&R);

        /* Providers stuck in the kernel get a last chance now that all is thawed. */
        for (size_t i = 0; i < nT; i++)
                if (pending[i] > 0 && !qz_child_reap(pending[i], PENDING_REAP_MS * USEC_PER_MSEC, NULL))
                        add_note(m,
                                 "the provider process %d for %s is still blocked in the kernel; left behind",
                                 (int)pending[i], T[i].path);

thaw_hooks:
        speak_again(&R);
        qz_hooks_thaw(&hooks, m);
        if (r < 0)
                goto out;

        /* 7. Finish, label, manifest. */
        for (size_t i = 0; i < nT; i++) {
                T[i].provider->finish(&ctx, &T[i], &m->fs[i]);
                /* btrfs: atomic by itself; lvm: says so in take() when lvcreate's own
                 * device-mapper suspend froze the filesystem (not quiesce) */
                m->fs[i].atomic = (T[i].provider == &qz_provider_btrfs || m->fs[i].atomic) &&
                                  m->fs[i].snapshot && !m->fs[i].error;
        }
        qz_label_input li = {.no_freeze = o->no_freeze,
                             .freeze_failed = freeze_failed,
                             .n_fs = nT,
                             .n_freeze_hooks = n_freeze_hooks,
                             .n_freeze_hooks_failed = hooks_failed};
        size_t made = 0;
        for (size_t i = 0; i < nT; i++) {
                if (m->fs[i].error || !m->fs[i].snapshot)
                        li.provider_failed = true;
                if (m->fs[i].snapshot)
                        made++;
                if ((m->fs[i].frozen_throughout || m->fs[i].atomic) && !m->fs[i].error)
                        li.n_fs_consistent++;
                if (m->fs[i].proof.known && !m->fs[i].proof.held)
                        li.n_fs_broken++;
        }
        const char *why;
        m->label = qz_label_decide(&li, &why);
        const qz_snap_proof *first_breach = NULL;
        for (size_t i = 0; i < nT && !first_breach; i++)
                if (m->fs[i].proof.known && !m->fs[i].proof.held && m->fs[i].proof.breach)
                        first_breach = &m->fs[i].proof;
        if (li.n_fs_broken && first_breach && !o->no_freeze && !freeze_failed && !li.provider_failed)
                m->label_reason = xasprintf("%s: %s", why, first_breach->breach);
        else
                m->label_reason = xstrdup(why);
        m->duration_ms = qz_now_ms() - t0;
        for (size_t i = 0; i < nT; i++)
                if (m->fs[i].error)
                        say(&R, "%s: %s", m->fs[i].path, m->fs[i].error);
        if (made == 0) {
                say(&R, "no snapshot was made");
                r = -EIO;
                goto out;
        }
        e = qz_manifest_write(store, m);
        if (e < 0) {
                say(&R, "cannot write the manifest %s/%s.json: %s", store, name, strerror(-e));
                for (size_t i = 0; i < nT; i++)
                        if (m->fs[i].snapshot)
                                say(&R, "the snapshot of %s is kept at %s", m->fs[i].path, m->fs[i].snapshot);
                r = e;
        }

out:
        qz_reservation_release(&resv); /* the manifest is written, or nothing is kept */
        speak_again(&R);
        if (hooks_loaded)
                qz_hooks_done(&hooks);
        if (hold)
                qz_hold_free(hold);
        qz_status_free(status);
        if (c)
                qz_client_close(c);
        for (size_t i = 0; i < nT; i++)
                qz_target_done(&T[i]);
        free(T);
        free(pending);
        free(store);
        if (m->duration_ms == 0)
                m->duration_ms = qz_now_ms() - t0;
        *ret = m;
        return r;
}

int qz_snapshot_delete(const char *store_opt, const char *name, qz_snapshot_msg_fn msg, void *userdata) {
        char *store = qz_store_dir(store_opt);
        qz_manifest *m;
        char err[1024];
        int r = qz_manifest_load(store, name, &m);
        if (r < 0) {
                if (msg) {
                        if (r == -ENOENT)
                                snprintf(err, sizeof(err), "no snapshot named %s in %s", name, store);
                        else
                                snprintf(err, sizeof(err), "%s/%s.json: %s", store, name,
                                         r == -EBADMSG ? "not a quiesce snapshot manifest" : strerror(-r));
                        msg(userdata, err);
                }
                free(store);
                return r;
        }
        int failed = 0, left = 0;
        for (size_t i = 0; i < m->n_fs; i++) {
                const qz_provider *p = qz_provider_by_name(m->fs[i].provider);
                if (!p || !m->fs[i].snapshot)
                        continue;
                int e = p->remove(m, &m->fs[i], err, sizeof(err));
                if (e == -ENOTSUP) {
                        left++;
                        if (msg)
                                msg(userdata, err);
                } else if (e < 0) {
                        failed++;
                        if (msg)
                                msg(userdata, err);
                }
        }
        if (failed) {
                if (msg) {
                        snprintf(err, sizeof(err), "kept the manifest %s (some snapshots were not removed)",
                                 m->file);
                        msg(userdata, err);
                }
                r = -EIO;
        } else if (unlink(m->file) < 0) {
                r = -errno;
                if (msg) {
                        snprintf(err, sizeof(err), "cannot remove %s: %s", m->file, strerror(-r));
                        msg(userdata, err);
                }
        }
        (void)left;
        qz_manifest_free(m);
        free(store);
        return r;
}
