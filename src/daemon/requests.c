/* SPDX-License-Identifier: GPL-2.0-or-later */
/* requests.c - the protocol's methods (docs/protocol.md): Freeze, Thaw,
 * ResetTimeout, Status, GetInfo. Turns a request's paths or descriptors into
 * filesystems, applies the refusals (runtime directory, root without a
 * deadline, unfreezable types), orders a group, and hands it to holds.c;
 * also the callbacks through which holds.c reaches the kernel and clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/printbuf.h>

#include "confirm.h"
#include "daemon.h"
#include "jsonutil.h"
#include "log.h"
#include "protocol.h"
#include "quiesce.h"

/* Types the kernel cannot freeze (no freeze_fs): refused before any syncfs. */
static const char *const unfreezable[] = {
        "tmpfs",    "ramfs",   "proc",     "sysfs",     "devtmpfs",    "devpts",   "cgroup",
        "cgroup2",  "overlay", "fuse",     "fuseblk",   "nfs",         "nfs4",     "cifs",
        "smb3",     "9p",      "autofs",   "mqueue",    "debugfs",     "tracefs",  "securityfs",
        "pstore",   "bpf",     "configfs", "hugetlbfs", "binfmt_misc", "efivarfs", "nsfs",
        "squashfs", "iso9660", "erofs",    "virtiofs",  "rpc_pipefs",
};

static bool is_unfreezable(const char *fstype) {
        if (strncmp(fstype, "fuse.", 5) == 0)
                return true;
        for (size_t i = 0; i < sizeof(unfreezable) / sizeof(unfreezable[0]); i++)
                if (strcmp(fstype, unfreezable[i]) == 0)
                        return true;
        return false;
}

static void reply_error(qz_conn *c, int err, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void reply_error(qz_conn *c, int err, const char *path, const char *fmt, ...) {
        char msg[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        qz_conn_reply(c, qz_json_error(qz_proto_error_kind(err, path != NULL), err, path, "%s", msg));
}

static void reply_ok(qz_conn *c, json_object *params) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "parameters", params);
        qz_conn_reply(c, o);
}

static int64_t ms_until(usec_t deadline, usec_t now) {
        if (deadline == QZ_USEC_INFINITY)
                return -1;
        return deadline > now ? (int64_t)((deadline - now + 999) / 1000) : 0;
}

/* The proof of fs's present (or last) freeze cycle (DESIGN.md, "Proof of a
 * freeze"): the last probe, the sectors written since FIFREEZE, breaches. */
static json_object *proof_json(const qz_fs *fs) {
        const qz_fs_proof *p = &fs->proof;
        usec_t at = p->last_probe_at;
        const char *answer = p->last_answer;
        char buf[16];
        bool have = p->have_sectors;
        uint64_t sectors = p->sectors_last;
        qz_keeper_view v;
        if (fs->keeper && qz_freezer_view(fs, &v) && v.last_probe_at > at) {
                /* a probe that found nothing to report */
                at = v.last_probe_at;
                have = v.have_sectors;
                sectors = v.sectors;
                qz_probe pr = {.ioctl = v.last_err >= 0, .err = v.last_err};
                answer = qz_probe_answer(&pr, buf, sizeof(buf));
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "held", json_object_new_boolean(p->held));
        json_object_object_add(o, "freeze_owner",
                               json_object_new_string(fs->foreign ? "another process" : "quiesce"));
        json_object_object_add(o, "device", p->device[0] ? json_object_new_string(p->device) : NULL);
        json_object_object_add(
                o, "sectors_written",
                have && p->have_sectors ? json_object_new_int64((int64_t)(sectors - p->sectors_base)) : NULL);
        bool probed = at > fs->freeze_start && answer && answer[0];
        json_object_object_add(o, "probe", probed ? json_object_new_string(answer) : NULL);
        json_object_object_add(
                o, "probe_ms",
                json_object_new_int64(probed ? (int64_t)((at - fs->freeze_start) / 1000) : -1));
        json_object_object_add(o, "breaches", json_object_new_int64(p->breaches));
        if (p->breaches) {
                json_object_object_add(o, "breach", json_object_new_string(p->breach));
                json_object_object_add(
                        o, "breach_ms",
                        json_object_new_int64((int64_t)((p->breach_at - fs->freeze_start) / 1000)));
        }
        return o;
}

static json_object *fs_ref_json(const qz_fs *fs, const char *path) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(fs->id));
        json_object_object_add(o, "mountpoint", json_object_new_string(fs->mountpoint));
        json_object_object_add(o, "fstype", json_object_new_string(fs->fstype));
        json_object_object_add(o, "source", json_object_new_string(fs->source));
        if (path)
                json_object_object_add(o, "path", json_object_new_string(path));
        if (fs->freeze_ms >= 0)
                json_object_object_add(o, "stall_ms", json_object_new_int64(fs->freeze_ms));
        if (fs->freeze_start)
                json_object_object_add(o, "proof", proof_json(fs));
        return o;
}

static json_object *hold_json(const qzd_hold *hold, usec_t now) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_uint64(hold->id));
        json_object_object_add(o, "detached", json_object_new_boolean(hold->detached));
        json_object_object_add(o, "remaining_ms", json_object_new_int64(ms_until(hold->deadline, now)));
        json_object_object_add(o, "broken", json_object_new_boolean(qz_hold_broken(hold, NULL)));
        if (qz_hold_broken(hold, NULL) && hold->breach)
                json_object_object_add(o, "breach", json_object_new_string(hold->breach));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < hold->n_fs; i++) {
                json_object *f = fs_ref_json(hold->fs[i], hold->paths[i]);
                json_object_object_add(f, "held",
                                       json_object_new_boolean(!qz_hold_broken(hold, hold->fs[i])));
                json_object_array_add(a, f);
        }
        json_object_object_add(o, "filesystems", a);
        return o;
}

/* ---- targets: a request's paths or descriptors, as filesystems ------------ */

typedef struct target {
        qz_fs *fs;
        int fd; /* for a freeze: an fd fit for the ioctls, until handed to fs */
        char *path;
        char name[192]; /* "ext4 7:0 (mounted at /mnt/a)", for messages when fs is NULL */
} target;

static void targets_free(target *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (t[i].fd >= 0)
                        close(t[i].fd);
                free(t[i].path);
        }
}

static qz_fs *fs_for(qz_daemon *d, const qz_mount_info *info, bool create) {
        qz_fs *fs = qz_holds_find_fs(d->holds, info->devno);
        if (fs && fs->refs == 0 && fs->state == QZ_FS_THAWED &&
            strcmp(fs->mountpoint, info->mountpoint) != 0) {
                /* Idle: refresh its names from the current mount table. */
                char *mp = strdup(info->mountpoint), *ty = strdup(info->fstype), *so = strdup(info->source);
                if (mp && ty && so) {
                        free(fs->mountpoint), free(fs->fstype), free(fs->source);
                        fs->mountpoint = mp, fs->fstype = ty, fs->source = so;
                } else {
                        free(mp), free(ty), free(so);
                }
        }
        if (fs || !create)
                return fs;
        fs = calloc(1, sizeof(*fs));
        if (!fs)
                return NULL;
        fs->devno = info->devno;
        snprintf(fs->id, sizeof(fs->id), "%s", info->id);
        fs->mountpoint = strdup(info->mountpoint);
        fs->fstype = strdup(info->fstype);
        fs->source = strdup(info->source);
        fs->ioctl_fd = -1;
        fs->is_root = strcmp(info->mountpoint, "/") == 0;
        if (!fs->mountpoint || !fs->fstype || !fs->source) {
                free(fs->mountpoint), free(fs->fstype), free(fs->source), free(fs);
                return NULL;
        }
        fs->host_devno = qz_mounts_loop_host(d->mounts, fs->source);
        return qz_holds_add_fs(d->holds, fs);
}

/* Resolves the request's targets (validated by qz_request_parse). On failure
 * replies and returns -1. With `freezing`, unknown filesystems are registered
 * and each target keeps a descriptor fit for FIFREEZE; otherwise unknown
 * filesystems have fs NULL. */
static int resolve_targets(qz_conn *c, const qz_request *req, bool freezing, target *t, size_t *ret_n) {
        qz_daemon *d = c->d;
        size_t n = req->n_targets;
        bool have_fds = req->n_fds > 0;
        int fds[QZ_MAX_TARGETS];
        if (have_fds && qz_wire_take_fds(&c->rd, fds, n) < 0) {
                reply_error(c, EBADMSG, NULL, "the request announced %zu descriptors but %zu arrived", n,
                            c->rd.n_fds);
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                t[i] = (target){.fd = have_fds ? fds[i] : -1};
        size_t done = 0;
        for (; done < n; done++) {
                target *x = &t[done];
                const char *p = req->paths[done];
                char name[64];
                if (!p) {
                        snprintf(name, sizeof(name), "descriptor #%zu", done);
                        p = name;
                }
                x->path = strdup(p);
                if (!x->path) {
                        reply_error(c, ENOMEM, NULL, "out of memory");
                        goto fail;
                }
                if (x->fd < 0) {
                        x->fd = open(p, O_PATH | O_CLOEXEC);
                        if (x->fd < 0) {
                                int e = errno;
                                reply_error(c, e, p, "%s: %s", p, strerror(e));
                                goto fail;
                        }
                }
                qz_mount_info info;
                int r = qz_mounts_identify_fd(d->mounts, x->fd, &info);
                if (r < 0) {
                        reply_error(c, -r, p, "%s: cannot find its filesystem in quiesced's mount table: %s",
                                    p, strerror(-r));
                        goto fail;
                }
                snprintf(x->name, sizeof(x->name), "%s %s (mounted at %s)", info.fstype, info.id,
                         info.mountpoint);
                if (!(S_ISDIR(info.mode) || S_ISREG(info.mode))) {
                        reply_error(
                                c, EINVAL, p,
                                "%s: not a directory or regular file; name a path inside the filesystem (%s)",
                                p, x->name);
                        goto fail;
                }
                x->fs = fs_for(d, &info, freezing);
                if (freezing && !x->fs) {
                        reply_error(c, ENOMEM, p, "%s: out of memory", p);
                        goto fail;
                }
                if (freezing && x->fs->ioctl_fd < 0) {
                        /* A descriptor the ioctls accept, whatever the client sent (O_PATH ...);
                         * a filesystem already held keeps the one it has (a nested freeze
                         * issues no ioctl), so this one would only be closed again. */
                        char proc[64];
                        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", x->fd);
                        int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                                    (S_ISDIR(info.mode) ? O_DIRECTORY : 0));
                        if (fd < 0) {
                                int e = errno;
                                reply_error(c, e, p, "%s: cannot open it: %s", p, strerror(e));
                                goto fail;
                        }
                        close(x->fd);
                        x->fd = fd;
                } else {
                        close(x->fd);
                        x->fd = -1;
                }
        }
        *ret_n = n;
        return 0;
fail:
        targets_free(t, n);
        return -1;
}

static const char *gone_suffix(const qz_fs *fs, char *buf, size_t size) {
        if (fs && fs->last_gone[0])
                snprintf(buf, size, " (last: %s)", fs->last_gone);
        else
                buf[0] = '\0';
        return buf;
}

/* ---- Freeze ---------------------------------------------------------------- */

static int nesting_level(qz_daemon *d, const qz_fs *fs) {
        int level = 0;
        for (dev_t host = fs->host_devno; host && level < 8; level++)
                host = qz_mounts_host_of_devno(d->mounts, host);
        return level;
}

/* Dependents first (deeper loop nesting), the root filesystem last; stable. */
static void order_targets(qz_daemon *d, target *t, size_t n) {
        int key[QZ_MAX_TARGETS];
        for (size_t i = 0; i < n; i++)
                key[i] = t[i].fs->is_root ? -1 : nesting_level(d, t[i].fs);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && key[j - 1] < key[j]; j--) {
                        target tt = t[j];
                        t[j] = t[j - 1];
                        t[j - 1] = tt;
                        int k = key[j];
                        key[j] = key[j - 1];
                        key[j - 1] = k;
                }
}

/* The connection's request is answered: take the next (or, inside
 * dispatch, let the dispatcher do so). c may be gone after it. */
static void conn_done(qz_conn *c) {
        if (c->dispatching)
                c->busy = false;
        else
                qz_conn_resume(c);
}

/* A Freeze whose filesystems are resolved, checked and ordered. */
typedef struct freeze_go {
        qz_conn *c;
        qz_fs **fs;
        char **paths;
        size_t n;
        bool detached;
        int64_t timeout_ms;
} freeze_go;

static void freeze_go_free(void *arg) {
        freeze_go *g = arg;
        for (size_t i = 0; i < g->n; i++)
                free(g->paths[i]);
        free(g->paths);
        free(g->fs);
        free(g);
}

/* After the probes: hand the group to holds.c. */
static void freeze_begin(qz_daemon *d, void *arg) {
        freeze_go *g = arg;
        qz_conn *c = g->c;
        qz_fs **fs = g->fs;
        char **paths = g->paths;
        size_t m = g->n;
        c->confirm = NULL;
        int err = 0;
        char msg[512];
        qz_op *op = qz_holds_begin(d->holds, c, c->cred.uid, c->cred.pid, g->detached, g->timeout_ms, fs,
                                   paths, m, c, qz_now(), &err, msg, sizeof(msg));
        free(g); /* the op (or op_done) has taken fs and paths, unless err */
        if (op) {
                c->op = op;
                return;
        }
        if (!err)
                return; /* op_done answered and went on with the connection */
        for (size_t i = 0; i < m; i++)
                qz_holds_fs_maybe_idle(d->holds, fs[i]); /* closes its descriptor unless still wanted */
        /* holds.c names the filesystem(s) and the reason; add the request's path. */
        char first[768];
        snprintf(first, sizeof(first), "%s: %s %s (mounted at %s): ", paths[0], fs[0]->fstype, fs[0]->id,
                 fs[0]->mountpoint);
        qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, err, paths[0], "%s%s",
                                       err == EDEADLK ? (const char *)"" : first, msg));
        for (size_t i = 0; i < m; i++)
                free(paths[i]);
        free(fs), free(paths);
        conn_done(c);
}

static void do_freeze(qz_conn *c, const qz_request *req) {
        qz_daemon *d = c->d;
        int64_t timeout_ms = req->timeout_ms;
        bool detached = req->detached;
        target t[QZ_MAX_TARGETS];
        size_t n;
        if (resolve_targets(c, req, true, t, &n) < 0)
                return;

        /* Refusals, and one reference per superblock. */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                qz_fs *fs = t[i].fs;
                const char *p = t[i].path;
                int err = 0;
                char msg[512];
                if (is_unfreezable(fs->fstype)) {
                        err = EOPNOTSUPP;
                        snprintf(msg, sizeof(msg), "%s: %s %s (mounted at %s) does not support freezing", p,
                                 fs->fstype, fs->id, fs->mountpoint);
                } else if (fs->devno == d->runtime_devno) {
                        err = EDEADLK;
                        snprintf(msg, sizeof(msg),
                                 "%s: %s %s (mounted at %s) holds quiesced's runtime directory %s; freezing "
                                 "it "
                                 "would block the daemon that must thaw it",
                                 p, fs->fstype, fs->id, fs->mountpoint, d->runtime_dir);
                } else if (fs->is_root && timeout_ms == QZ_NO_DEADLINE) {
                        err = EINVAL;
                        snprintf(msg, sizeof(msg),
                                 "%s: refusing to freeze the root filesystem (%s %s) without a finite "
                                 "deadline; "
                                 "give a timeout",
                                 p, fs->fstype, fs->id);
                }
                if (err) {
                        qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, err, p, "%s", msg));
                        targets_free(t, n);
                        return;
                }
                bool dup = false;
                for (size_t j = 0; j < m; j++)
                        dup |= t[j].fs == fs;
                if (dup) {
                        targets_free(&t[i], 1);
                        continue;
                }
                t[m++] = t[i];
        }
        /* A permitted but hostile user must not fill the hold table. */
        if (c->cred.uid != 0 && d->max_holds_per_uid) {
                size_t mine = 0;
                for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                        mine += h->uid == c->cred.uid;
                for (qz_conn *o = d->conns; o; o = o->next)
                        mine += o->busy && o->cred.uid == c->cred.uid; /* a group freeze in progress */
                if (mine >= d->max_holds_per_uid) {
                        qz_conn_reply(
                                c, qz_json_error(
                                           QZ_PROTO_ERROR, EDQUOT, t[0].path,
                                           "%s: not freezing %s %s (mounted at %s): uid %u already has "
                                           "%zu holds, its limit (--max-holds-per-uid %u); thaw some first",
                                           t[0].path, t[0].fs->fstype, t[0].fs->id, t[0].fs->mountpoint,
                                           (unsigned)c->cred.uid, mine, d->max_holds_per_uid));
                        targets_free(t, m);
                        return;
                }
        }
        if (m > 1)
                order_targets(d, t, m); /* one filesystem needs no order (nor its loop chain read) */

        qz_fs **fs = calloc(m, sizeof(*fs));
        char **paths = calloc(m, sizeof(*paths));
        if (!fs || !paths) {
                free(fs), free(paths);
                targets_free(t, m);
                reply_error(c, ENOMEM, NULL, "out of memory");
                return;
        }
        for (size_t i = 0; i < m; i++) {
                fs[i] = t[i].fs;
                paths[i] = t[i].path;
                t[i].path = NULL;
                if (fs[i]->ioctl_fd < 0) {
                        fs[i]->ioctl_fd = t[i].fd;
                        t[i].fd = -1;
                }
        }
        targets_free(t, m);

        /* A filesystem frozen already is confirmed by a probe first: a hold
         * is granted only on a freeze that is in place at that moment. */
        freeze_go *g = calloc(1, sizeof(*g));
        if (!g)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        *g = (freeze_go){
                .c = c, .fs = fs, .paths = paths, .n = m, .detached = detached, .timeout_ms = timeout_ms};
        c->busy = true;
        c->confirm_free = freeze_go_free;
        c->confirm = qz_confirm_start(d, fs, m, freeze_begin, g);
}

/* ---- Thaw and ResetTimeout --------------------------------------------------- */

static bool may_touch(qz_conn *c, const qzd_hold *hold) {
        return c->cred.uid == 0 || hold->uid == c->cred.uid;
}

static qzd_hold *hold_by_id(qz_conn *c, const qz_request *req, bool *given) {
        int64_t id = (int64_t)req->hold;
        *given = req->has_hold;
        if (!*given)
                return NULL;
        qzd_hold *hold = qz_holds_find(c->d->holds, (uint64_t)id);
        if (!hold) {
                const char *why = qz_daemon_gone_reason(c->d, (uint64_t)id);
                qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, EINVAL, NULL, "hold %" PRId64 " is gone: %s",
                                               id, why ? why : "no such hold (never granted, or long gone)"));
                return NULL;
        }
        if (!may_touch(c, hold)) {
                qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, EPERM, NULL,
                                               "hold %" PRId64
                                               " belongs to uid %u; only it or root may change it",
                                               id, (unsigned)hold->uid));
                return NULL;
        }
        return hold;
}

/* For each target, the caller's most recent hold on it; replies on failure. */
static int holds_for_targets(qz_conn *c, target *t, size_t n, qzd_hold **ret) {
        for (size_t i = 0; i < n; i++) {
                qzd_hold *hold = t[i].fs ? qz_holds_find_for(c->d->holds, t[i].fs, c, c->cred.uid) : NULL;
                if (!hold) {
                        char suffix[200];
                        if (t[i].fs)
                                reply_error(c, EINVAL, t[i].path,
                                            "%s: %s %s (mounted at %s) has no quiesce hold of yours%s",
                                            t[i].path, t[i].fs->fstype, t[i].fs->id, t[i].fs->mountpoint,
                                            gone_suffix(t[i].fs, suffix, sizeof(suffix)));
                        else
                                reply_error(c, EINVAL, t[i].path, "%s: %s is not frozen by quiesce",
                                            t[i].path, t[i].name);
                        return -1;
                }
                ret[i] = hold;
        }
        return 0;
}

static json_object *released_json(const qzd_hold *hold, const qz_fs *fs, const char *path, bool thaws,
                                  usec_t now) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "hold", json_object_new_uint64(hold->id));
        json_object *f = fs_ref_json(fs, path);
        json_object_object_add(f, "held", json_object_new_boolean(!qz_hold_broken(hold, fs)));
        json_object_object_add(o, "filesystem", f);
        json_object_object_add(o, "thawed", json_object_new_boolean(thaws));
        json_object_object_add(o, "frozen_ms",
                               json_object_new_int64((int64_t)((now - fs->freeze_start) / 1000)));
        return o;
}

/* A Thaw or ResetTimeout, its holds and filesystems found, waiting for the
 * probes that say whether each freeze held until now. */
typedef struct hold_go {
        qz_conn *c;
        bool by_hold;
        uint64_t ids[QZ_MAX_TARGETS]; /* by hold: ids[0]; ResetTimeout by paths: each hold once */
        size_t n_ids;
        dev_t devnos[QZ_MAX_TARGETS]; /* Thaw by paths: the filesystems named, in order */
        char *paths[QZ_MAX_TARGETS];
        size_t n;
        int64_t timeout_ms;
} hold_go;

static void hold_go_free(void *arg) {
        hold_go *g = arg;
        for (size_t i = 0; i < g->n; i++)
                free(g->paths[i]);
        free(g);
}

static hold_go *hold_go_new(qz_conn *c) {
        hold_go *g = calloc(1, sizeof(*g));
        if (!g)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        g->c = c;
        return g;
}

/* Waits for a probe of every filesystem of the holds (fs: their filesystems), then fn. */
static void confirm_then(qz_conn *c, qz_fs *const *fs, size_t n, qz_confirm_fn fn, hold_go *g) {
        c->busy = true;
        c->confirm_free = hold_go_free;
        c->confirm = qz_confirm_start(c->d, fs, n, fn, g);
}

/* The answer to a Thaw or ResetTimeout: parameters p, or, when a freeze did
 * not hold, an error with errno ESTALE carrying p's members as well
 * (QZ_EBROKEN in quiesce.h: the release or re-arm took place). */
static void reply_held_or_broken(qz_conn *c, json_object *p, uint64_t id, const char *breach,
                                 const char *done) {
        if (!breach) {
                reply_ok(c, p);
                return;
        }
        json_object *e = qz_json_error(QZ_PROTO_ERROR_FREEZE_BROKEN, ESTALE, NULL,
                                       "hold %" PRIu64 ": the freeze did not hold throughout: %s; %s", id,
                                       breach, done);
        json_object *ep = NULL;
        json_object_object_get_ex(e, "parameters", &ep);
        json_object_object_foreach(p, k, v) json_object_object_add(ep, k, json_object_get(v));
        json_object_put(p);
        qz_conn_reply(c, e);
}

static void gone_reply(qz_conn *c, uint64_t id) {
        const char *why = qz_daemon_gone_reason(c->d, id);
        qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, EINVAL, NULL, "hold %" PRIu64 " is gone: %s", id,
                                       why ? why : "no such hold (never granted, or long gone)"));
}

static void thaw_go(qz_daemon *d, void *arg) {
        hold_go *g = arg;
        qz_conn *c = g->c;
        c->confirm = NULL;
        usec_t now = qz_now();
        json_object *released = json_object_new_array();
        uint64_t broken_id = 0;
        char breach[448] = ""; /* what the message needs of the broken hold, which the release frees */
        if (g->by_hold) {
                qzd_hold *hold = qz_holds_find(d->holds, g->ids[0]);
                if (!hold) {
                        json_object_put(released);
                        gone_reply(c, g->ids[0]); /* it went (deadline, ceiling) while probed */
                        goto out;
                }
                for (size_t i = 0; i < hold->n_fs; i++) {
                        qz_fs *fs = hold->fs[i];
                        bool thaws = fs->refs == 1 && fs->state == QZ_FS_FROZEN;
                        json_object_array_add(released, released_json(hold, fs, hold->paths[i], thaws, now));
                }
                if (qz_hold_broken(hold, NULL)) {
                        broken_id = hold->id;
                        snprintf(breach, sizeof(breach), "%s", hold->breach ? hold->breach : "a breach");
                }
                qz_holds_release(d->holds, hold, "released: thawed by request", now);
        } else {
                for (size_t i = 0; i < g->n; i++) {
                        qz_fs *fs = qz_holds_find_fs(d->holds, g->devnos[i]);
                        qzd_hold *h = fs ? qz_holds_find_for(d->holds, fs, c, c->cred.uid) : NULL;
                        if (!h) {
                                if (json_object_array_length(released) > 0)
                                        continue; /* the same filesystem named twice */
                                char suffix[200] = "";
                                if (fs && fs->last_gone[0])
                                        snprintf(suffix, sizeof(suffix), " (last: %s)", fs->last_gone);
                                reply_error(c, EINVAL, g->paths[i], "%s: %s has no quiesce hold of yours%s",
                                            g->paths[i], fs ? fs->mountpoint : "the filesystem", suffix);
                                json_object_put(released);
                                goto out;
                        }
                        bool thaws = fs->refs == 1 && fs->state == QZ_FS_FROZEN;
                        json_object_array_add(released, released_json(h, fs, g->paths[i], thaws, now));
                        if (qz_hold_broken(h, fs) && !breach[0]) {
                                broken_id = h->id;
                                snprintf(breach, sizeof(breach), "%s",
                                         fs->proof.breach[0] ? fs->proof.breach : "a breach");
                        }
                        qz_holds_release_fs(d->holds, h, fs, "released: thawed by request", now);
                }
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "released", released);
        reply_held_or_broken(c, p, broken_id, breach[0] ? breach : NULL, "the hold was released");
out:
        hold_go_free(g);
        conn_done(c);
}

static void do_thaw(qz_conn *c, const qz_request *req) {
        bool given;
        hold_go *g = hold_go_new(c);
        qzd_hold *hold = hold_by_id(c, req, &given);
        if (given) {
                if (!hold) {
                        hold_go_free(g);
                        return;
                }
                g->by_hold = true;
                g->ids[g->n_ids++] = hold->id;
                confirm_then(c, hold->fs, hold->n_fs, thaw_go, g);
                return;
        }
        target t[QZ_MAX_TARGETS];
        qzd_hold *holds[QZ_MAX_TARGETS];
        size_t n = 0;
        if (resolve_targets(c, req, false, t, &n) < 0 || holds_for_targets(c, t, n, holds) < 0) {
                if (n)
                        targets_free(t, n);
                hold_go_free(g);
                return;
        }
        qz_fs *fs[QZ_MAX_TARGETS];
        for (size_t i = 0; i < n; i++) {
                fs[i] = t[i].fs;
                g->devnos[i] = t[i].fs->devno;
                g->paths[i] = t[i].path;
                t[i].path = NULL;
        }
        g->n = n;
        targets_free(t, n);
        confirm_then(c, fs, n, thaw_go, g);
}

static void reset_go(qz_daemon *d, void *arg) {
        hold_go *g = arg;
        qz_conn *c = g->c;
        c->confirm = NULL;
        usec_t now = qz_now();
        json_object *a = json_object_new_array();
        const qzd_hold *broken = NULL;
        for (size_t i = 0; i < g->n_ids; i++) {
                qzd_hold *hold = qz_holds_find(d->holds, g->ids[i]);
                if (!hold) {
                        json_object_put(a);
                        gone_reply(c, g->ids[i]); /* it went (deadline, ceiling) while probed */
                        goto out;
                }
        }
        for (size_t i = 0; i < g->n_ids; i++) {
                qzd_hold *hold = qz_holds_find(d->holds, g->ids[i]);
                qz_holds_reset_timeout(d->holds, hold, g->timeout_ms, now);
                json_object_array_add(a, hold_json(hold, now));
                if (!broken && qz_hold_broken(hold, NULL))
                        broken = hold;
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "holds", a);
        reply_held_or_broken(c, p, broken ? broken->id : 0,
                             broken ? (broken->breach ? broken->breach : "a breach") : NULL,
                             "its deadline was re-armed");
out:
        hold_go_free(g);
        conn_done(c);
}

static void do_reset_timeout(qz_conn *c, const qz_request *req) {
        int64_t timeout_ms = req->timeout_ms;
        bool given;
        qzd_hold *list[QZ_MAX_TARGETS];
        size_t n = 0;
        qzd_hold *hold = hold_by_id(c, req, &given);
        if (given) {
                if (!hold)
                        return;
                list[n++] = hold;
        } else {
                target t[QZ_MAX_TARGETS];
                if (resolve_targets(c, req, false, t, &n) < 0)
                        return;
                int r = holds_for_targets(c, t, n, list);
                targets_free(t, n);
                if (r < 0)
                        return;
        }
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < list[i]->n_fs; j++)
                        if (list[i]->fs[j]->is_root && timeout_ms == QZ_NO_DEADLINE) {
                                reply_error(c, EINVAL, list[i]->fs[j]->mountpoint,
                                            "hold %" PRIu64
                                            " covers the root filesystem, which needs a finite deadline",
                                            list[i]->id);
                                return;
                        }
        hold_go *g = hold_go_new(c);
        g->timeout_ms = timeout_ms;
        qz_fs *fs[QZ_MAX_TARGETS];
        size_t n_fs = 0;
        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t j = 0; j < g->n_ids; j++)
                        seen |= g->ids[j] == list[i]->id;
                if (seen)
                        continue;
                g->ids[g->n_ids++] = list[i]->id;
                for (size_t j = 0; j < list[i]->n_fs && n_fs < QZ_MAX_TARGETS; j++)
                        fs[n_fs++] = list[i]->fs[j];
        }
        confirm_then(c, fs, n_fs, reset_go, g);
}

/* ---- Status and GetInfo ------------------------------------------------------ */

static void add_info(qz_daemon *d, json_object *p) {
        json_object_object_add(p, "version", json_object_new_string(QZ_VERSION_STRING));
        json_object_object_add(p, "pid", json_object_new_int(getpid()));
        json_object_object_add(p, "max_frozen_ms", json_object_new_int64(d->max_frozen_ms));
        json_object_object_add(p, "probe_interval_ms", json_object_new_int64(d->probe_interval_ms));
}

/* Status is written out as it is built, one hold's object at a time: a
 * listing of many holds never stands as one json-c tree in the (locked)
 * heap. The text is the same JSON a tree would give. */
typedef struct status_text {
        struct printbuf *pb;
        bool failed;
} status_text;

static void put_raw(status_text *t, const char *s, size_t len) {
        if (!t->failed && printbuf_memappend(t->pb, s, (int)len) < 0)
                t->failed = true;
}

static void put_str(status_text *t, const char *s) {
        put_raw(t, s, strlen(s));
}

/* o's text (o is consumed); open: without its closing brace, so that more
 * members can follow. o must have members. */
static void put_json(status_text *t, json_object *o, bool open) {
        const char *text = qz_json_text(o);
        size_t len = strlen(text);
        if (open && (len < 2 || text[len - 1] != '}' || json_object_object_length(o) == 0))
                abort(); /* not an object with members: a bug here */
        put_raw(t, text, open ? len - 1 : len);
        json_object_put(o);
}

static json_object *status_hold_json(const qzd_hold *h, usec_t now) {
        json_object *ho = json_object_new_object();
        json_object_object_add(ho, "id", json_object_new_uint64(h->id));
        json_object_object_add(ho, "detached", json_object_new_boolean(h->detached));
        json_object_object_add(ho, "pid", json_object_new_int(h->pid));
        json_object_object_add(ho, "uid", json_object_new_int64(h->uid));
        json_object_object_add(ho, "age_ms", json_object_new_int64((int64_t)((now - h->created) / 1000)));
        json_object_object_add(ho, "remaining_ms", json_object_new_int64(ms_until(h->deadline, now)));
        json_object_object_add(ho, "broken", json_object_new_boolean(qz_hold_broken(h, NULL)));
        if (qz_hold_broken(h, NULL) && h->breach)
                json_object_object_add(ho, "breach", json_object_new_string(h->breach));
        return ho;
}

static json_object *status_fs_json(const qz_fs *fs, usec_t now) {
        bool active = fs->state != QZ_FS_THAWED;
        json_object *o = fs_ref_json(fs, NULL);
        json_object_object_add(o, "state", json_object_new_string(qz_fs_state_name(fs->state)));
        int64_t frozen_ms = active ? (int64_t)((now - fs->freeze_start) / 1000) : fs->last_stall_ms;
        if (fs->state == QZ_FS_FREEZING)
                frozen_ms = 0;
        json_object_object_add(o, "frozen_ms", json_object_new_int64(frozen_ms));
        json_object_object_add(o, "last_stall_ms", json_object_new_int64(fs->last_stall_ms));
        json_object_object_add(
                o, "ceiling_ms",
                json_object_new_int64(fs->state == QZ_FS_FROZEN ? ms_until(fs->ceiling_at, now) : -1));
        return o;
}

static void do_status(qz_conn *c) {
        qz_daemon *d = c->d;
        usec_t now = qz_now();
        status_text t = {.pb = printbuf_new()};
        if (!t.pb) {
                reply_error(c, ENOMEM, NULL, "out of memory for the Status reply");
                return;
        }
        json_object *info = json_object_new_object();
        add_info(d, info);
        put_str(&t, "{\"parameters\":");
        put_json(&t, info, true);
        put_str(&t, ",\"filesystems\":[");
        bool first_fs = true;
        for (qz_fs *fs = qz_holds_first_fs(d->holds); fs; fs = fs->next) {
                if (fs->state == QZ_FS_THAWED && fs->refs == 0 && fs->freeze_start == 0)
                        continue; /* named in a refused request, never frozen */
                if (!first_fs)
                        put_str(&t, ",");
                first_fs = false;
                put_json(&t, status_fs_json(fs, now), true);
                put_str(&t, ",\"holds\":[");
                bool first_hold = true;
                for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                        for (size_t i = 0; i < h->n_fs; i++) {
                                if (h->fs[i] != fs)
                                        continue;
                                if (!first_hold)
                                        put_str(&t, ",");
                                first_hold = false;
                                put_json(&t, status_hold_json(h, now), false);
                        }
                put_str(&t, "]}");
        }
        put_str(&t, "],\"counters\":");
        json_object *ctr = json_object_new_object();
        json_object_object_add(ctr, "fifreeze",
                               json_object_new_uint64(qz_freezer_fifreeze_calls(d->freezer)));
        json_object_object_add(ctr, "fithaw", json_object_new_uint64(qz_freezer_fithaw_calls(d->freezer)));
        json_object_object_add(ctr, "probes", json_object_new_uint64(qz_freezer_probe_calls(d->freezer)));
        json_object_object_add(ctr, "holds_granted", json_object_new_uint64(d->holds_granted));
        json_object_object_add(ctr, "holds_active", json_object_new_uint64(qz_holds_count(d->holds)));
        json_object_object_add(ctr, "connections", json_object_new_uint64(d->n_conns));
        put_json(&t, ctr, false);
        put_str(&t, "}}");
        if (t.failed)
                reply_error(c, ENOMEM, NULL, "out of memory for the Status reply");
        else
                qz_conn_reply_text(c, t.pb->buf);
        printbuf_free(t.pb);
}

static void do_get_info(qz_conn *c) {
        json_object *p = json_object_new_object();
        add_info(c->d, p);
        json_object_object_add(p, "socket", json_object_new_string(c->d->socket_path));
        json_object_object_add(p, "runtime_dir", json_object_new_string(c->d->runtime_dir));
        reply_ok(c, p);
}

void qz_request_dispatch(qz_conn *c, const char *text) {
        qz_request req;
        qz_request_error e;
        if (qz_request_parse(text, &req, &e) < 0) {
                if (c->d->shutting_down && req.method == QZ_METHOD_FREEZE)
                        reply_error(c, ESHUTDOWN, NULL, "quiesced is shutting down; no new freezes");
                else
                        qz_conn_reply(
                                c, qz_json_error(e.kind, e.err, e.has_path ? e.path : NULL, "%s", e.message));
                return;
        }
        /* Deadlines and the ceiling that have passed count before this request,
         * even if their timer has not fired yet (timer slack, a busy machine):
         * a request never sees a hold that is already due to be gone. */
        usec_t now = qz_now();
        if (now >= c->d->next_deadline)
                qz_holds_expire(c->d->holds, now);
        switch (req.method) {
        case QZ_METHOD_FREEZE:
                if (c->d->shutting_down)
                        reply_error(c, ESHUTDOWN, NULL, "quiesced is shutting down; no new freezes");
                else
                        do_freeze(c, &req);
                break;
        case QZ_METHOD_THAW:
                do_thaw(c, &req);
                break;
        case QZ_METHOD_RESET_TIMEOUT:
                do_reset_timeout(c, &req);
                break;
        case QZ_METHOD_STATUS:
                do_status(c);
                break;
        case QZ_METHOD_GET_INFO:
                do_get_info(c);
                break;
        case QZ_METHOD_UNKNOWN:
                break;
        }
        qz_request_done(&req);
}

/* ---- callbacks from holds.c and the freezer ---------------------------------- */

static void cb_start_freeze(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        log_debug("freezing %s %s (mounted at %s)", fs->fstype, fs->id, fs->mountpoint);
        int r = qz_freezer_start(d->freezer, fs, true);
        if (r < 0)
                log_error("cannot start the freeze of %s: %s", fs->mountpoint, strerror(-r));
}

static void cb_preflush(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        int r = qz_freezer_preflush(d->freezer, fs);
        if (r < 0)
                log_debug("no early pre-flush of %s: %s", fs->mountpoint, strerror(-r));
}

static void cb_start_thaw(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        int r = qz_freezer_start(d->freezer, fs, false);
        if (r < 0)
                log_error("cannot start the thaw of %s: %s (the guard thaws it at its hard deadline)",
                          fs->mountpoint, strerror(-r));
}

static void cb_op_done(void *ud, qz_op *op, qzd_hold *hold, int err, const char *msg, const char *path) {
        qz_daemon *d = ud;
        qz_conn *c = op->userdata;
        if (hold) {
                d->holds_granted++;
                json_object *p = json_object_new_object();
                json_object_object_add(p, "hold", hold_json(hold, qz_now()));
                reply_ok(c, p);
                log_debug("hold %" PRIu64 " granted to pid %d uid %u on %zu filesystem(s), first %s%s",
                          hold->id, (int)hold->pid, (unsigned)hold->uid, hold->n_fs, hold->fs[0]->mountpoint,
                          hold->detached ? " (detached)" : "");
        } else {
                qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, err, path, "%s", msg));
                log_notice("freeze for pid %d failed: %s", (int)op->pid, msg);
        }
        if (c->dispatching)
                c->busy = false;
        else
                qz_conn_resume(c);
}

static void cb_hold_gone(void *ud, const qzd_hold *hold, const char *why) {
        qz_daemon *d = ud;
        qz_gone *g = &d->gone[d->gone_next++ % QZ_GONE_RING];
        g->id = hold->id;
        snprintf(g->why, sizeof(g->why), "%s", why);
        /* Routine releases are debug (a nested freeze costs no log line, which
         * matters at thousands a second); a deadline or the ceiling is news. */
        bool news = strncmp(why, "expired", 7) == 0 || strncmp(why, "force", 5) == 0;
        qz_log(news ? LOG_NOTICE : LOG_DEBUG, "hold %" PRIu64 " (pid %d) %s", hold->id, (int)hold->pid, why);
}

static void cb_fs_idle(void *ud, qz_fs *fs) {
        (void)ud;
        if (fs->ioctl_fd >= 0) {
                close(fs->ioctl_fd);
                fs->ioctl_fd = -1;
        }
}

const qz_holds_ops qz_daemon_holds_ops = {
        .start_freeze = cb_start_freeze,
        .start_thaw = cb_start_thaw,
        .preflush = cb_preflush,
        .op_done = cb_op_done,
        .hold_gone = cb_hold_gone,
        .fs_idle = cb_fs_idle,
};

const char *qz_daemon_gone_reason(qz_daemon *d, uint64_t id) {
        for (unsigned i = 0; i < QZ_GONE_RING; i++)
                if (d->gone[i].id == id && id)
                        return d->gone[i].why;
        return NULL;
}

/* "ext4 7:1 (mounted at /srv/data)" */
static const char *fs_name(const qz_fs *fs, char *buf, size_t size) {
        snprintf(buf, size, "%s %s (mounted at %s)", fs->fstype, fs->id, fs->mountpoint);
        return buf;
}

/* A breach of fs's freeze: recorded on fs and on every hold on it, logged. */
static void breach(qz_daemon *d, qz_fs *fs, const char *sentence, usec_t at) {
        qz_fs_proof *p = &fs->proof;
        p->held = false;
        p->breaches++;
        p->breach_at = at;
        snprintf(p->breach, sizeof(p->breach), "%s", sentence);
        log_warning("%s", sentence);
        for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                for (size_t i = 0; i < h->n_fs; i++)
                        if (h->fs[i] == fs)
                                log_warning("hold %" PRIu64
                                            " (pid %d) on %s is broken: its freeze did not hold",
                                            h->id, (int)h->pid, fs->mountpoint);
        qz_holds_breach(d->holds, fs, sentence, at);
}

/* What a probe found (proof.h). */
static void note_probe(qz_daemon *d, qz_fs *fs, const qz_freeze_result *res) {
        qz_fs_proof *p = &fs->proof;
        if (!res->probe_at)
                return;
        p->last_probe_at = res->probe_at;
        qz_probe_answer(&res->probe, p->last_answer, sizeof(p->last_answer));
        if (res->probe.have_sectors)
                p->sectors_last = res->probe.sectors;
        fs->foreign = !res->ours;
        char name[320], sentence[448];
        if (qz_verdict_is_breach(res->verdict)) {
                int64_t after_ms = (int64_t)((res->probe_at - fs->freeze_start) / 1000);
                qz_proof_describe(sentence, sizeof(sentence), fs_name(fs, name, sizeof(name)), res->verdict,
                                  after_ms, p->device[0] ? p->device : NULL,
                                  p->have_sectors && res->probe.have_sectors,
                                  p->sectors_last - p->sectors_base);
                breach(d, fs, sentence, res->probe_at);
        } else if (res->verdict == QZ_VERDICT_UNKNOWN) {
                log_notice("the probe of %s could not tell whether its freeze holds: FIFREEZE answered %s",
                           fs_name(fs, name, sizeof(name)), p->last_answer);
        }
}

void qz_daemon_freeze_done(void *ud, qz_fs *fs, const qz_freeze_result *res) {
        qz_daemon *d = ud;
        int err = res->err;
        const char *detail = res->detail;
        usec_t start = res->start, end = res->end;
        char name[320];
        if (res->kind == QZ_REPORT_PROBE) {
                note_probe(d, fs, res);
                qz_confirm_answered(d, fs, res->probe_seq);
                return;
        }
        if (res->kind == QZ_REPORT_THAWED) {
                note_probe(d, fs, res); /* the last probe, before FITHAW */
                if (res->thaw_ioctl && err == EINVAL) {
                        char sentence[448];
                        snprintf(sentence, sizeof(sentence),
                                 "the freeze of %s was lifted by another process: FITHAW found it thawed "
                                 "at release, %" PRId64 " ms after it began",
                                 fs_name(fs, name, sizeof(name)), (int64_t)((end - fs->freeze_start) / 1000));
                        breach(d, fs, sentence, end);
                } else if (err) {
                        log_warning("FITHAW of %s failed: %s", fs_name(fs, name, sizeof(name)),
                                    strerror(err));
                } else if (!res->thaw_ioctl) {
                        log_notice("left the freeze of %s in place at release: it is another process's, "
                                   "not quiesce's (fsfreeze -u %s releases it)",
                                   fs_name(fs, name, sizeof(name)), fs->mountpoint);
                }
                qz_holds_thaw_done(d->holds, fs, err, end);
                log_info("thawed %s %s (mounted at %s): writes were blocked for %" PRId64 " ms%s", fs->fstype,
                         fs->id, fs->mountpoint, fs->last_stall_ms,
                         fs->proof.held ? "" : "; its freeze did not hold throughout (see the breach above)");
                qz_confirm_settle(d, fs);
                qz_holds_prune(d->holds, 32);
                return;
        }
        char msg[384];
        msg[0] = '\0';
        if (err == EBUSY && detail && detail[0])
                snprintf(msg, sizeof(msg),
                         "%s %s (mounted at %s) lies on device-mapper device %s, which is suspended: "
                         "device-mapper "
                         "holds its freeze (dmsetup resume releases it); quiesce takes and thaws nothing",
                         fs->fstype, fs->id, fs->mountpoint, detail);
        else if (err == EBUSY)
                snprintf(msg, sizeof(msg),
                         "%s %s (mounted at %s) is already frozen by another tool (not quiesce, e.g. "
                         "fsfreeze -f); "
                         "leaving that freeze alone",
                         fs->fstype, fs->id, fs->mountpoint);
        else if (err == EOPNOTSUPP || err == ENOTTY)
                snprintf(msg, sizeof(msg), "%s %s (mounted at %s) does not support freezing", fs->fstype,
                         fs->id, fs->mountpoint);
        else if (err == ENOLINK)
                snprintf(msg, sizeof(msg),
                         "%s %s (mounted at %s): the guard process is gone; refusing to freeze without it",
                         fs->fstype, fs->id, fs->mountpoint);
        else if (err)
                snprintf(msg, sizeof(msg), "%s %s (mounted at %s): FIFREEZE failed: %s", fs->fstype, fs->id,
                         fs->mountpoint, strerror(err));
        if (err == ENOTTY)
                err = EOPNOTSUPP;
        if (!err) {
                log_info("froze %s %s (mounted at %s) in %" PRIu64 " ms, after a %" PRIu64 " ms pre-flush%s",
                         fs->fstype, fs->id, fs->mountpoint, (end - start) / 1000, res->preflush_usec / 1000,
                         res->throttled ? " (writers throttled)" : "");
                fs->proof = (qz_fs_proof){.have_sectors = res->have_sectors,
                                          .sectors_base = res->sectors_base,
                                          .sectors_last = res->sectors_base,
                                          .held = true};
                snprintf(fs->proof.device, sizeof(fs->proof.device), "%s", res->device ? res->device : "");
        }
        qz_holds_freeze_done(d->holds, fs, err, msg, start, end);
}
