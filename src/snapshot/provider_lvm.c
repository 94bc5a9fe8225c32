/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider_lvm.c - the LVM provider: a snapshot of the logical volume that
 * holds the filesystem, classic (lvcreate --snapshot --extents/--size) or,
 * for a thin volume, a thin snapshot (activated, so it can be mounted).
 *
 * The filesystem is frozen once, by quiesce (the group freeze through
 * quiesced, hooks as usual), and LVM does not freeze it again:
 *
 * - classic: the origin's device-mapper device is suspended first with
 *   `dmsetup suspend --nolockfs` (dm waits for in-flight I/O and freezes
 *   nothing); lvcreate then finds it already suspended, skips its own
 *   lockfs suspend (lvm2's _lv_suspend() returns early for a suspended LV),
 *   loads the snapshot tables while resuming, and resumes it. On 6.1 the
 *   lockfs suspend would fail with EBUSY on the frozen filesystem.
 * - thin, kernel >= 6.8: no suspend by us. lvm2 sends the thin pool its
 *   create_snap message only from its own suspend of the origin, so a
 *   suspended origin makes lvcreate fail and leaves the pool's transaction
 *   id behind the VG metadata (tested). Its lockfs suspend nests inside
 *   quiesce's freeze (FREEZE_MAY_NEST, 6.8): a count, no second freeze.
 * - thin, kernel < 6.8 (6.1): that lockfs suspend fails with EBUSY on a
 *   filesystem frozen by FIFREEZE, so quiesce does not freeze it: lvcreate's
 *   suspend freezes it, as before (the snapshot is labelled atomic), and a
 *   filesystem quiesce already holds frozen is refused.
 *
 * The steps that can leave the origin suspended (our suspend, lvcreate,
 * the resume of an origin still suspended after lvcreate) run in one job: a
 * child in its own process group that ignores SIGINT/SIGHUP/SIGPIPE, turns
 * SIGTERM into "stop lvcreate, then resume", and keeps a copy of quiesced's
 * connection. The CLI waits for it. Killing the CLI, even with SIGKILL,
 * does not stop the job: it still resumes the origin, and quiesced thaws
 * only when the job too has closed the connection (or at the hold's
 * deadline), so the resume comes before the thaw on every path. Only a
 * SIGKILL of the job itself between the suspend and the resume (e.g. of the
 * whole cgroup) leaves the origin suspended, exactly as it would a killed
 * lvcreate; `dmsetup resume` releases it. See docs/device-mapper.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "dm.h"
#include "error.h"
#include "lvm.h"
#include "provider.h"

static void trim(char *s) {
        char *p = s;
        while (*p == ' ' || *p == '\t')
                p++;
        memmove(s, p, strlen(p) + 1);
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
                s[--n] = '\0';
}

/* lvs on what (a device path or VG/LV): 0, -ENOENT (not an LV), -ENOPKG (no
 * lvs), -errno with err set. */
static int lv_query(const char *what, struct lv *out, char **ret_error) {
        char *argv[] = {"lvs",         "--noheadings",
                        "--separator", "|",
                        "-o",          "vg_name,lv_name,segtype,origin",
                        (char *)what,  NULL};
        qz_child_result r;
        int e = lvm_run(argv, LVM_QUERY_TIMEOUT_MS, 1000, &r);
        if (e < 0) {
                qz_set_error(ret_error, "cannot run lvs: %s", strerror(-e));
                return e;
        }
        char msg[256], d[96];
        int ret = 0;
        if (!r.started) {
                qz_set_error(ret_error, "lvs: %s (is lvm2 installed?)", strerror(r.exec_errno));
                ret = r.exec_errno == ENOENT ? -ENOPKG : -r.exec_errno; /* not "no such LV" */
        } else if (!lvm_exited_ok(&r)) {
                qz_set_error(ret_error, "lvs %s: %s%s%s", what,
                             r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)),
                             *qz_child_first_line(&r, msg, sizeof(msg)) ? ": " : "", msg);
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
                        qz_set_error(ret_error, "lvs %s printed no logical volume", what);
                        ret = -ENOENT;
                }
        }
        qz_child_result_done(&r);
        return ret;
}

/* Does a device-mapper lockfs suspend nest inside a FIFREEZE freeze? Since
 * 6.8 (bdev_freeze(), FREEZE_MAY_NEST); before, it fails with EBUSY. */
static bool kernel_nests_dm_freeze(void) {
        struct utsname u;
        unsigned major = 0, minor = 0;
        if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
                return false;
        return major > 6 || (major == 6 && minor >= 8);
}

/* The device-mapper device of the block device at path: its dev_t and name. */
static int dm_device(const char *path, dev_t *dev, char *name, size_t size) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        int r = qz_dm_name(st.st_rdev, name, size);
        if (r < 0)
                return r;
        *dev = st.st_rdev;
        return 0;
}

/* ORIGIN-qz-NAME into buf; false when too long for an LV name. */
static bool snap_lv_name(const char *origin, const char *name, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s-qz-%s", origin, name);
        return n > 0 && (size_t)n < size && n <= LVM_NAME_MAX;
}

static int check(qz_snap_ctx *ctx, qz_target *t, char **ret_error) {
        char holds[128], snap[LVM_NAME_MAX + 16];
        struct lv lv;
        if (!t->source || strncmp(t->source, "/dev/", 5) != 0) {
                qz_set_error(ret_error,
                             "%s: %s %s is not on a block device (source %s); the lvm provider needs an LVM "
                             "logical volume",
                             t->path, t->fstype, t->id, t->source ? t->source : "?");
                return -EINVAL;
        }
        _cleanup_free_ char *lverr = NULL;
        int e = lv_query(t->source, &lv, &lverr);
        if (e < 0) {
                qz_set_error(ret_error, "%s: %s %s on %s is not an LVM logical volume (%s)", t->path,
                             t->fstype, t->id, t->source, lverr);
                return e == -ENOENT ? -EINVAL : e;
        }
        if (strcmp(lv.segtype, "thin") == 0 && !ctx->opts->lvm_size && !kernel_nests_dm_freeze()) {
                /* lvcreate's lockfs suspend freezes it (see the top); quiesce must not */
                t->freeze = false;
                if (qz_ctx_fs_frozen(ctx, t->id, holds, sizeof(holds))) {
                        qz_set_error(
                                ret_error,
                                "%s: %s %s is frozen by quiesce (hold %s): LVM's own suspend of the thin "
                                "volume "
                                "%s/%s would fail with EBUSY on this kernel (< 6.8); thaw it first",
                                t->path, t->fstype, t->id, holds, lv.vg, lv.lv);
                        return -EBUSY;
                }
        }
        dev_t dev;
        char dm[LVM_NAME_MAX * 2 + 8];
        if ((e = dm_device(t->source, &dev, dm, sizeof(dm))) < 0) {
                qz_set_error(ret_error, "%s: cannot find the device-mapper device of %s/%s (%s): %s", t->path,
                             lv.vg, lv.lv, t->source, strerror(-e));
                return e;
        }
        if (qz_dm_suspended(dev) == 1) {
                qz_set_error(ret_error,
                             "%s: the device-mapper device %s of %s/%s is suspended; dmsetup resume it first",
                             t->path, dm, lv.vg, lv.lv);
                return -EBUSY;
        }
        if (!snap_lv_name(lv.lv, ctx->name, snap, sizeof(snap))) {
                qz_set_error(
                        ret_error,
                        "%s: the snapshot's LV name %s-qz-%s is longer than %d characters; choose a shorter "
                        "--name",
                        t->path, lv.lv, ctx->name, LVM_NAME_MAX);
                return -ENAMETOOLONG;
        }
        char full[3 * LVM_NAME_MAX];
        struct lv other;
        snprintf(full, sizeof(full), "%s/%s", lv.vg, snap);
        if (lv_query(full, &other, NULL) == 0) {
                qz_set_error(ret_error, "%s: the logical volume %s exists already (choose another --name)",
                             t->path, full);
                return -EEXIST;
        }
        free(t->location);
        if (asprintf(&t->location, "/dev/%s/%s", lv.vg, snap) < 0)
                abort();
        return 0;
}

static void take(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, usec_t deadline, pid_t *pending) {
        char snap[LVM_NAME_MAX + 16], origin[3 * LVM_NAME_MAX], d[96], dm[LVM_NAME_MAX * 2 + 8];
        struct lv lv;
        dev_t dev;
        if (lv_query(t->source, &lv, &f->error) < 0)
                return;
        if (!snap_lv_name(lv.lv, ctx->name, snap, sizeof(snap))) {
                f->error = strdup("the snapshot's LV name is too long");
                return;
        }
        int e = dm_device(t->source, &dev, dm, sizeof(dm));
        if (e < 0) {
                if (asprintf(&f->error, "cannot find the device-mapper device of %s: %s", t->source,
                             strerror(-e)) < 0)
                        abort();
                return;
        }
        snprintf(origin, sizeof(origin), "%s/%s", lv.vg, lv.lv);
        const char *size = ctx->opts->lvm_size;
        bool thin = strcmp(lv.segtype, "thin") == 0 && !size;
        char *argv[16];
        int n = 0;
        argv[n++] = "lvcreate";
        argv[n++] = "--config";
        argv[n++] = LVM_CREATE_CONFIG;
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

        /* lvcreate is given at least LVM_CREATE_MIN_MS and SIGTERM before
         * SIGKILL, so it is not killed between its suspend and resume; the
         * job's own limit covers the suspend, lvcreate and the resume. */
        usec_t limit = qz_now() + LVM_CREATE_MIN_MS * USEC_PER_MSEC;
        if (deadline > limit && deadline != QZ_USEC_INFINITY)
                limit = deadline;
        struct job j = {.argv = argv,
                        .dm = dm,
                        .dev = dev,
                        .presuspend = !thin && f->frozen,
                        .lvcreate_deadline =
                                limit + (f->frozen && !thin ? DM_STEP_TIMEOUT_MS * USEC_PER_MSEC : 0)};
        int64_t after = 2 * DM_STEP_TIMEOUT_MS + LVM_KILL_GRACE_MS +
                        10000; /* what the job may need after lvcreate's limit */
        qz_child_spec s = {.fn = lvm_job_main,
                           .arg = &j,
                           .exec_fd = -1,
                           .merge_stderr = false,
                           .deadline = j.lvcreate_deadline + (usec_t)after * USEC_PER_MSEC,
                           .kill_grace = (usec_t)after * USEC_PER_MSEC,
                           .reap_wait = ctx->reap_wait,
                           .interrupted = ctx->opts->interrupted,
                           .keep_fd = ctx->hold_fd > 2 ? ctx->hold_fd : 0};
        qz_child_result r;
        e = qz_child_run(&s, &r);
        if (e < 0) {
                if (asprintf(&f->error, "cannot start the lvcreate job: %s", strerror(-e)) < 0)
                        abort();
                return;
        }
        if (!r.reaped)
                *pending = r.pid;
        /* its report, then lvcreate's output; the "error: " line is the failure's reason */
        const char *report = r.out.data ? r.out.data : "";
        const char *err_line = strstr(report, "error: ");
        if (r.out.len || r.err.len) {
                if (asprintf(&f->output, "%s%s", report, r.err.data ? r.err.data : "") < 0)
                        abort();
        }
        int rc = 0;
        int st = r.reaped && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
        if (st == JOB_OK && r.reaped && !r.timed_out) {
                rc = asprintf(&f->snapshot, "/dev/%s/%s", lv.vg, snap);
                if (rc >= 0)
                        rc = asprintf(&f->lvm_origin, "%s", origin);
                if (rc >= 0)
                        rc = asprintf(&f->lvm_snapshot, "%s/%s", lv.vg, snap);
                /* frozen by lvcreate's own lockfs suspend, not by quiesce: consistent by itself */
                f->atomic = !f->frozen;
        } else if (err_line) {
                char line[600];
                snprintf(line, sizeof(line), "%s", err_line + 7);
                line[strcspn(line, "\n")] = '\0';
                rc = asprintf(&f->error, "%s: %s", origin, line);
        } else
                rc = asprintf(&f->error, "%s: the lvcreate job %s%s; check %s with lvs and dmsetup info",
                              origin, r.timed_out ? "did not finish in time, stopped: " : "ended: ",
                              qz_child_describe(&r, d, sizeof(d)), dm);
        if (rc < 0)
                abort();
        qz_child_result_done(&r);
}

static void finish(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f) {
        int64_t size = qz_snapshot_size_of(f->snapshot); /* the snapshot LV's block device */
        if (size >= 0)
                f->size_bytes = size;
}

static int remove_(const qz_manifest *m, const qz_snap_fs *f, char **ret_error) {
        char d[96], msg[256];
        if (!f->lvm_snapshot || !f->lvm_origin) {
                qz_set_error(ret_error, "%s: the manifest names no LVM volumes; not removed",
                             f->snapshot ? f->snapshot : "?");
                return -ENOTSUP;
        }
        struct lv lv;
        int e = lv_query(f->lvm_snapshot, &lv, ret_error);
        if (e == -ENOENT) {
                free(*ret_error);
                *ret_error = NULL;
                return 0; /* already gone */
        }
        if (e < 0)
                return e;
        const char *slash = strchr(f->lvm_origin, '/');
        const char *origin_lv = slash ? slash + 1 : f->lvm_origin;
        if (strcmp(lv.origin, origin_lv) != 0) {
                qz_set_error(ret_error, "%s is not a snapshot of %s (its origin: '%s'); left alone",
                             f->lvm_snapshot, f->lvm_origin, lv.origin);
                return -EPERM;
        }
        char *argv[] = {"lvremove", "--yes", f->lvm_snapshot, NULL};
        qz_child_result r;
        e = lvm_run(argv, LVM_REMOVE_TIMEOUT_MS, 5000, &r);
        if (e < 0) {
                qz_set_error(ret_error, "cannot run lvremove: %s", strerror(-e));
                return e;
        }
        int ret = 0;
        if (!lvm_exited_ok(&r)) {
                qz_set_error(ret_error, "lvremove %s: %s: %s", f->lvm_snapshot,
                             r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)),
                             qz_child_first_line(&r, msg, sizeof(msg)));
                ret = -EIO;
        }
        qz_child_result_done(&r);
        return ret;
}

/* The snapshot LV exists (lvs) and is still a snapshot of the origin. */
static qz_snap_state verify(const qz_manifest *m, const qz_snap_fs *f, char **ret_why) {
        if (!f->lvm_snapshot) {
                qz_set_error(ret_why, "%s: the manifest names no LVM volume; not checked", f->snapshot);
                return QZ_SNAP_UNKNOWN;
        }
        struct lv lv;
        _cleanup_free_ char *err = NULL;
        int e = lv_query(f->lvm_snapshot, &lv, &err);
        if (e == -ENOENT) {
                qz_set_error(ret_why, "the logical volume %s does not exist", f->lvm_snapshot);
                return QZ_SNAP_MISSING;
        }
        if (e < 0) {
                qz_set_error(ret_why, "%s: cannot check: %s", f->lvm_snapshot, err);
                return QZ_SNAP_UNKNOWN;
        }
        const char *slash = f->lvm_origin ? strchr(f->lvm_origin, '/') : NULL;
        const char *origin_lv = slash ? slash + 1 : f->lvm_origin;
        if (origin_lv && strcmp(lv.origin, origin_lv) != 0) {
                qz_set_error(ret_why, "%s is not a snapshot of %s (its origin: '%s')", f->lvm_snapshot,
                             f->lvm_origin, lv.origin);
                return QZ_SNAP_DAMAGED;
        }
        qz_set_error(ret_why, "the logical volume %s exists%s%s", f->lvm_snapshot,
                     f->lvm_origin ? ", a snapshot of " : "", f->lvm_origin ? f->lvm_origin : "");
        return QZ_SNAP_INTACT;
}

const qz_provider qz_provider_lvm = {
        .name = "lvm",
        .freezes = true, /* by quiesce; check() leaves thin volumes out on kernels < 6.8 (see the top) */
        .check = check,
        .take = take,
        .finish = finish,
        .remove = remove_,
        .verify = verify,
};
