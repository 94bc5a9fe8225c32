/* provider_lvm.c - the LVM provider: a snapshot of the logical volume that
 * holds the filesystem, classic (lvcreate --snapshot --extents/--size) or,
 * for a thin volume, a thin snapshot (activated, so it can be mounted).
 * quiesce does not freeze these filesystems: lvcreate suspends the origin
 * with device-mapper's lockfs, which freezes the filesystem itself for the
 * switch, and that suspend fails with EBUSY on a filesystem someone else
 * (quiesce) holds frozen. See docs/device-mapper.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "provider.h"

#define LVM_QUERY_TIMEOUT_MS 30000  /* lvs */
#define LVM_CREATE_MIN_MS 120000    /* lvcreate is not stopped sooner: it suspends and resumes the origin */
#define LVM_REMOVE_TIMEOUT_MS 60000 /* lvremove */
#define LVM_DEFAULT_EXTENTS "20%ORIGIN"
#define LVM_NAME_MAX 127

struct lv {
        char vg[LVM_NAME_MAX + 1];
        char lv[LVM_NAME_MAX + 1];
        char segtype[32];
        char origin[LVM_NAME_MAX + 1];
};

static char *const lvm_env[] = {"LVM_SUPPRESS_FD_WARNINGS=1", NULL};

/* Runs an LVM command to its end (or limit); 0 with its output in *r, or -errno. */
static int lvm_run(char *const *argv, int64_t timeout_ms, int64_t grace_ms, qz_child_result *r) {
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .env_add = lvm_env,
                           .merge_stderr = false,
                           .deadline_ms = qz_now_ms() + timeout_ms,
                           .kill_grace_ms = grace_ms,
                           .reap_wait_ms = 2000};
        return qz_child_run(&s, r);
}

static bool exited_ok(const qz_child_result *r) {
        return r->started && r->reaped && !r->timed_out && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* The first line of what the command printed on stderr (or stdout), trimmed, into buf. */
static const char *first_line(const qz_child_result *r, char *buf, size_t size) {
        const char *s = r->err.data && *r->err.data ? r->err.data : r->out.data ? r->out.data : "";
        while (*s == ' ')
                s++;
        snprintf(buf, size, "%s", s);
        buf[strcspn(buf, "\n")] = '\0';
        return buf;
}

static void trim(char *s) {
        char *p = s;
        while (*p == ' ' || *p == '\t')
                p++;
        memmove(s, p, strlen(p) + 1);
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
                s[--n] = '\0';
}

/* lvs on what (a device path or VG/LV): 0, -ENOENT (not an LV), -errno with err set. */
static int lv_query(const char *what, struct lv *out, char *err, size_t errlen) {
        char *argv[] = {"lvs",         "--noheadings", "--separator", "|", "-o", "vg_name,lv_name,segtype,origin",
                        (char *)what, NULL};
        qz_child_result r;
        int e = lvm_run(argv, LVM_QUERY_TIMEOUT_MS, 1000, &r);
        if (e < 0) {
                snprintf(err, errlen, "cannot run lvs: %s", strerror(-e));
                return e;
        }
        char msg[256], d[96];
        int ret = 0;
        if (!r.started) {
                snprintf(err, errlen, "lvs: %s (is lvm2 installed?)", strerror(r.exec_errno));
                ret = -r.exec_errno;
        } else if (!exited_ok(&r)) {
                snprintf(err, errlen, "lvs %s: %s%s%s", what,
                         r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)),
                         *first_line(&r, msg, sizeof(msg)) ? ": " : "", msg);
                /* "Failed to find logical volume", "Volume group ... not found", not an LV path */
                bool absent = !r.timed_out && r.err.data &&
                              (strstr(r.err.data, "ailed to find") || strstr(r.err.data, "not found") ||
                               strstr(r.err.data, "not a valid") || strstr(r.err.data, "nvalid"));
                ret = absent ? -ENOENT : -EIO;
        } else {
                char line[1024];
                snprintf(line, sizeof(line), "%s", r.out.data ? r.out.data : "");
                line[strcspn(line, "\n")] = '\0';
                char *f[4] = {0};
                char *p = line;
                for (int i = 0; i < 4; i++) {
                        f[i] = p;
                        char *bar = p ? strchr(p, '|') : NULL;
                        if (bar) {
                                *bar = '\0';
                                p = bar + 1;
                        } else
                                p = NULL;
                }
                memset(out, 0, sizeof(*out));
                if (f[0])
                        snprintf(out->vg, sizeof(out->vg), "%s", f[0]);
                if (f[1])
                        snprintf(out->lv, sizeof(out->lv), "%s", f[1]);
                if (f[2])
                        snprintf(out->segtype, sizeof(out->segtype), "%s", f[2]);
                if (f[3])
                        snprintf(out->origin, sizeof(out->origin), "%s", f[3]);
                trim(out->vg);
                trim(out->lv);
                trim(out->segtype);
                trim(out->origin);
                if (!out->vg[0] || !out->lv[0]) {
                        snprintf(err, errlen, "lvs %s printed no logical volume", what);
                        ret = -ENOENT;
                }
        }
        qz_child_result_done(&r);
        return ret;
}

/* ORIGIN-qz-NAME into buf; false when too long for an LV name. */
static bool snap_lv_name(const char *origin, const char *name, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s-qz-%s", origin, name);
        return n > 0 && (size_t)n < size && n <= LVM_NAME_MAX;
}

static int check(qz_snap_ctx *ctx, qz_target *t, char *err, size_t errlen) {
        char why[512], holds[128], snap[LVM_NAME_MAX + 16];
        struct lv lv;
        if (!t->source || strncmp(t->source, "/dev/", 5) != 0) {
                snprintf(err, errlen, "%s: %s %s is not on a block device (source %s); the lvm provider needs an LVM logical volume",
                         t->path, t->fstype, t->id, t->source ? t->source : "?");
                return -EINVAL;
        }
        int e = lv_query(t->source, &lv, why, sizeof(why));
        if (e < 0) {
                snprintf(err, errlen, "%s: %s %s on %s is not an LVM logical volume (%s)", t->path, t->fstype, t->id,
                         t->source, why);
                return e == -ENOENT ? -EINVAL : e;
        }
        if (qz_ctx_fs_frozen(ctx, t->id, holds, sizeof(holds))) {
                snprintf(err, errlen,
                         "%s: %s %s is frozen by quiesce (hold %s): LVM's own suspend of %s/%s would fail with "
                         "EBUSY; thaw it first",
                         t->path, t->fstype, t->id, holds, lv.vg, lv.lv);
                return -EBUSY;
        }
        if (!snap_lv_name(lv.lv, ctx->name, snap, sizeof(snap))) {
                snprintf(err, errlen, "%s: the snapshot's LV name %s-qz-%s is longer than %d characters; choose a shorter --name",
                         t->path, lv.lv, ctx->name, LVM_NAME_MAX);
                return -ENAMETOOLONG;
        }
        char full[3 * LVM_NAME_MAX];
        struct lv other;
        snprintf(full, sizeof(full), "%s/%s", lv.vg, snap);
        if (lv_query(full, &other, why, sizeof(why)) == 0) {
                snprintf(err, errlen, "%s: the logical volume %s exists already (choose another --name)", t->path, full);
                return -EEXIST;
        }
        free(t->location);
        if (asprintf(&t->location, "/dev/%s/%s", lv.vg, snap) < 0)
                abort();
        return 0;
}

static void take(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, int64_t deadline_ms, pid_t *pending) {
        char why[512], snap[LVM_NAME_MAX + 16], origin[3 * LVM_NAME_MAX], d[96], msg[256];
        struct lv lv;
        if (lv_query(t->source, &lv, why, sizeof(why)) < 0) {
                if (asprintf(&f->error, "%s", why) < 0)
                        abort();
                return;
        }
        if (!snap_lv_name(lv.lv, ctx->name, snap, sizeof(snap))) {
                f->error = strdup("the snapshot's LV name is too long");
                return;
        }
        snprintf(origin, sizeof(origin), "%s/%s", lv.vg, lv.lv);
        const char *size = ctx->opts->lvm_size;
        bool thin = strcmp(lv.segtype, "thin") == 0 && !size;
        char *argv[16];
        int n = 0;
        argv[n++] = "lvcreate";
        argv[n++] = "--snapshot";
        argv[n++] = "--name";
        argv[n++] = snap;
        if (thin) {
                /* thin snapshots are created inactive and skipped at activation unless asked */
                argv[n++] = "--setactivationskip";
                argv[n++] = "n";
                argv[n++] = "--activate";
                argv[n++] = "y";
        } else {
                const char *v = size ? size : LVM_DEFAULT_EXTENTS;
                argv[n++] = strchr(v, '%') ? "--extents" : "--size";
                argv[n++] = (char *)v;
        }
        argv[n++] = origin;
        argv[n] = NULL;

        /* Nothing is frozen by quiesce here; lvcreate is given at least
         * LVM_CREATE_MIN_MS and SIGTERM before SIGKILL, so it is not killed
         * between its suspend and resume of the origin. */
        int64_t limit = qz_now_ms() + LVM_CREATE_MIN_MS;
        if (deadline_ms > limit)
                limit = deadline_ms;
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .env_add = lvm_env,
                           .merge_stderr = false,
                           .deadline_ms = limit,
                           .kill_grace_ms = 10000,
                           .reap_wait_ms = ctx->reap_wait_ms,
                           .interrupted = ctx->opts->interrupted};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        if (e < 0) {
                if (asprintf(&f->error, "cannot run lvcreate: %s", strerror(-e)) < 0)
                        abort();
                return;
        }
        if (!r.reaped)
                *pending = r.pid;
        if (r.out.len || r.err.len) {
                if (asprintf(&f->output, "%s%s", r.out.data ? r.out.data : "", r.err.data ? r.err.data : "") < 0)
                        abort();
        }
        int rc = 0;
        if (!r.started)
                rc = asprintf(&f->error, "lvcreate: %s", strerror(r.exec_errno));
        else if (r.interrupted)
                rc = asprintf(&f->error, "interrupted; lvcreate stopped (check %s with lvs)", origin);
        else if (r.timed_out)
                rc = asprintf(&f->error, "lvcreate --snapshot of %s did not finish in time; stopped (%s): check it with lvs and dmsetup info",
                              origin, qz_child_describe(&r, d, sizeof(d)));
        else if (!exited_ok(&r))
                rc = asprintf(&f->error, "lvcreate --snapshot of %s failed (%s): %s", origin,
                              qz_child_describe(&r, d, sizeof(d)), first_line(&r, msg, sizeof(msg)));
        else {
                rc = asprintf(&f->snapshot, "/dev/%s/%s", lv.vg, snap);
                if (rc >= 0)
                        rc = asprintf(&f->lvm_origin, "%s", origin);
                if (rc >= 0)
                        rc = asprintf(&f->lvm_snapshot, "%s/%s", lv.vg, snap);
        }
        if (rc < 0)
                abort();
        qz_child_result_done(&r);
}

static void finish(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f) {
        struct stat st;
        if (!f->snapshot || stat(f->snapshot, &st) < 0 || !S_ISBLK(st.st_mode))
                return;
        int fd = open(f->snapshot, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        uint64_t sz;
        if (fd >= 0 && ioctl(fd, BLKGETSIZE64, &sz) == 0)
                f->size_bytes = (int64_t)sz;
        if (fd >= 0)
                close(fd);
}

static int remove_(const qz_manifest *m, const qz_snap_fs *f, char *err, size_t errlen) {
        char why[512], d[96], msg[256];
        if (!f->lvm_snapshot || !f->lvm_origin) {
                snprintf(err, errlen, "%s: the manifest names no LVM volumes; not removed",
                         f->snapshot ? f->snapshot : "?");
                return -ENOTSUP;
        }
        struct lv lv;
        int e = lv_query(f->lvm_snapshot, &lv, why, sizeof(why));
        if (e == -ENOENT)
                return 0; /* already gone */
        if (e < 0) {
                snprintf(err, errlen, "%s", why);
                return e;
        }
        const char *slash = strchr(f->lvm_origin, '/');
        const char *origin_lv = slash ? slash + 1 : f->lvm_origin;
        if (strcmp(lv.origin, origin_lv) != 0) {
                snprintf(err, errlen,
                         "%s is not a snapshot of %s (its origin: '%s'); left alone", f->lvm_snapshot, f->lvm_origin,
                         lv.origin);
                return -EPERM;
        }
        char *argv[] = {"lvremove", "--yes", f->lvm_snapshot, NULL};
        qz_child_result r;
        e = lvm_run(argv, LVM_REMOVE_TIMEOUT_MS, 5000, &r);
        if (e < 0) {
                snprintf(err, errlen, "cannot run lvremove: %s", strerror(-e));
                return e;
        }
        int ret = 0;
        if (!exited_ok(&r)) {
                snprintf(err, errlen, "lvremove %s: %s: %s", f->lvm_snapshot,
                         r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)),
                         first_line(&r, msg, sizeof(msg)));
                ret = -EIO;
        }
        qz_child_result_done(&r);
        return ret;
}

const qz_provider qz_provider_lvm = {
        .name = "lvm",
        .freezes = false, /* lvcreate's device-mapper suspend freezes (lockfs) */
        .check = check,
        .take = take,
        .finish = finish,
        .remove = remove_,
};
