/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider_reflink.c - the reflink provider: a copy-on-write clone
 * (FICLONE) of a loop device's backing image, beside it as
 * IMAGE.quiesce-NAME. Refused before the freeze when the image's filesystem
 * cannot reflink, is frozen, or is part of the same group.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "error.h"
#include "provider.h"

struct clone_args {
        const char *src, *dst;
        bool probe; /* a one-block clone into an unnamed temporary file */
};

static int clone_child(void *arg) {
        const struct clone_args *a = arg;
        int src = open(a->src, O_RDONLY | O_CLOEXEC);
        if (src < 0) {
                printf("open %s: %s\n", a->src, strerror(errno));
                return errno;
        }
        if (a->probe) {
                _cleanup_free_ char *dir = xstrdup(a->dst);
                char *slash = strrchr(dir, '/');
                if (slash)
                        *(slash == dir ? slash + 1 : slash) = '\0';
                int dst = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
                if (dst < 0) {
                        printf("cannot create a temporary file in %s: %s\n", dir, strerror(errno));
                        return errno;
                }
                struct stat st;
                fstat(src, &st);
                uint64_t len = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
                if ((uint64_t)st.st_size < len)
                        return 0; /* too small to try: FICLONE itself will tell */
                struct file_clone_range fcr = {
                        .src_fd = src, .src_offset = 0, .src_length = len, .dest_offset = 0};
                if (ioctl(dst, FICLONERANGE, &fcr) < 0) {
                        printf("%s\n", strerror(errno));
                        return errno;
                }
                return 0;
        }
        int dst = open(a->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (dst < 0) {
                printf("create %s: %s\n", a->dst, strerror(errno));
                return errno;
        }
        if (ioctl(dst, FICLONE, src) < 0) {
                int e = errno;
                printf("FICLONE %s to %s: %s\n", a->src, a->dst, strerror(e));
                unlink(a->dst);
                return e;
        }
        if (fsync(dst) < 0) {
                int e = errno;
                printf("fsync %s: %s\n", a->dst, strerror(e));
                unlink(a->dst);
                return e;
        }
        return 0;
}

static int check(qz_snap_ctx *ctx, qz_target *t, char **ret_error) {
        if (!t->backing_file) {
                qz_set_error(ret_error,
                             "%s: %s on %s (%s, mounted on %s) is not on a loop device; the reflink provider "
                             "clones a loop device's backing image (use --provider btrfs or exec)",
                             t->path, t->fstype, t->source, t->id, t->mountpoint);
                return -EOPNOTSUPP;
        }
        size_t bl = strlen(t->backing_file);
        if (bl > 10 && strcmp(t->backing_file + bl - 10, " (deleted)") == 0) {
                qz_set_error(ret_error, "%s: the backing file of %s was deleted; nothing to clone", t->path,
                             t->source);
                return -ENOENT;
        }
        if (!t->host_id[0]) {
                qz_set_error(ret_error, "%s: cannot find the filesystem that holds %s's image %s", t->path,
                             t->source, t->backing_file);
                return -ENOENT;
        }
        for (size_t i = 0; i < ctx->n_targets; i++) {
                const qz_target *o = &ctx->targets[i];
                if (o->freeze && strcmp(o->id, t->host_id) == 0) {
                        qz_set_error(ret_error,
                                     "%s: its image %s lies on %s (%s %s), which this snapshot freezes too; "
                                     "FICLONE would wait for that thaw (snapshot the two separately)",
                                     t->path, t->backing_file, t->host_mountpoint, t->host_fstype,
                                     t->host_id);
                        return -EDEADLK;
                }
        }
        char holds[128];
        if (qz_ctx_fs_frozen(ctx, t->host_id, holds, sizeof(holds))) {
                qz_set_error(
                        ret_error,
                        "%s: its image %s lies on %s (%s %s), which is frozen (quiesce hold %s); FICLONE "
                        "would wait for its thaw",
                        t->path, t->backing_file, t->host_mountpoint, t->host_fstype, t->host_id, holds);
                return -EDEADLK;
        }
        free(t->location);
        if (asprintf(&t->location, "%s" QZ_REFLINK_SUFFIX "%s", t->backing_file, ctx->name) < 0)
                abort();
        struct stat st;
        if (lstat(t->location, &st) == 0) {
                qz_set_error(ret_error, "%s: %s already exists (choose another --name)", t->path,
                             t->location);
                return -EEXIST;
        }
        /* A one-block trial clone, under a deadline (a filesystem frozen by
         * another tool would block it). */
        struct clone_args a = {.src = t->backing_file, .dst = t->location, .probe = true};
        qz_child_spec s = {.fn = clone_child,
                           .arg = &a,
                           .exec_fd = -1,
                           .merge_stderr = true,
                           .deadline = qz_now() + (usec_t)QZ_PROBE_TIMEOUT_MS * USEC_PER_MSEC,
                           .kill_grace = 100 * USEC_PER_MSEC,
                           .reap_wait = 200 * USEC_PER_MSEC,
                           .interrupted = ctx->opts->interrupted};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        if (e < 0) {
                qz_set_error(ret_error, "%s: cannot run a trial clone: %s", t->path, strerror(-e));
                return e;
        }
        char line[512];
        int ret = 0;
        if (r.timed_out) {
                qz_set_error(ret_error,
                             "%s: a trial clone of %s on %s (%s) did not finish in %ds: is that filesystem "
                             "frozen by another tool?",
                             t->path, t->backing_file, t->host_mountpoint, t->host_fstype,
                             QZ_PROBE_TIMEOUT_MS / 1000);
                ret = -ETIMEDOUT;
        } else if (!r.reaped || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
                int code = r.reaped && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : EIO;
                if (code == EOPNOTSUPP || code == EINVAL || code == ENOTTY || code == EXDEV)
                        qz_set_error(
                                ret_error,
                                "%s: its image %s lies on %s (%s), which cannot reflink (%s); the reflink "
                                "provider needs XFS with reflink or btrfs",
                                t->path, t->backing_file, t->host_fstype, t->host_mountpoint,
                                qz_child_first_line(&r, line, sizeof(line)));
                else
                        qz_set_error(ret_error, "%s: a trial clone of %s failed: %s", t->path,
                                     t->backing_file, qz_child_first_line(&r, line, sizeof(line)));
                ret = -code;
        }
        qz_child_result_done(&r);
        return ret;
}

static void take(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, usec_t deadline, pid_t *pending) {
        struct clone_args a = {.src = t->backing_file, .dst = t->location};
        _cleanup_free_ char *what = xasprintf("FICLONE of %s", t->backing_file);
        qz_take_in_child(ctx, clone_child, &a, what, t->location, deadline, f, pending);
}

static void finish(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f) {
        struct stat st;
        if (f->snapshot) {
                if (stat(f->snapshot, &st) == 0)
                        f->size_bytes = st.st_size;
        } else if (t->location && lstat(t->location, &st) == 0 && S_ISREG(st.st_mode)) {
                unlink(t->location); /* a killed clone's partial file: we created it (O_EXCL) */
        }
}

static int remove_(const qz_manifest *m, const qz_snap_fs *f, char **ret_error) {
        if (!f->snapshot)
                return 0;
        char *expect = NULL;
        if (!f->backing_file ||
            asprintf(&expect, "%s" QZ_REFLINK_SUFFIX "%s", f->backing_file, m->name) < 0 ||
            strcmp(expect, f->snapshot) != 0) {
                qz_set_error(ret_error,
                             "%s: not IMAGE" QZ_REFLINK_SUFFIX "%s as the reflink provider names its "
                             "clones; left alone",
                             f->snapshot, m->name);
                free(expect);
                return -EPERM;
        }
        free(expect);
        struct stat st;
        if (lstat(f->snapshot, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                qz_set_error(ret_error, "%s: %s", f->snapshot, strerror(errno));
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                qz_set_error(ret_error, "%s: not a regular file; left alone", f->snapshot);
                return -EPERM;
        }
        if (unlink(f->snapshot) < 0) {
                int r = -errno;
                qz_set_error(ret_error, "cannot remove %s: %s", f->snapshot, strerror(-r));
                return r;
        }
        return 0;
}

/* The clone is a regular file of the recorded size. */
static qz_snap_state verify(const qz_manifest *m, const qz_snap_fs *f, char **ret_why) {
        struct stat st;
        qz_snap_state s;
        if (!qz_verify_stat(f->snapshot, false, &st, &s, ret_why))
                return s;
        if (!S_ISREG(st.st_mode)) {
                qz_set_error(ret_why, "%s is not a regular file", f->snapshot);
                return QZ_SNAP_DAMAGED;
        }
        if (f->size_bytes < 0) {
                qz_set_error(ret_why, "%s is there (%jd bytes; no size recorded to compare)", f->snapshot,
                             (intmax_t)st.st_size);
                return QZ_SNAP_INTACT;
        }
        if (st.st_size != f->size_bytes) {
                qz_set_error(ret_why, "%s is %jd bytes, the manifest recorded %jd", f->snapshot,
                             (intmax_t)st.st_size, (intmax_t)f->size_bytes);
                return QZ_SNAP_DAMAGED;
        }
        qz_set_error(ret_why, "%s is there, %jd bytes as recorded", f->snapshot, (intmax_t)st.st_size);
        return QZ_SNAP_INTACT;
}

const qz_provider qz_provider_reflink = {
        .name = "reflink",
        .freezes = true,
        .auto_default = true, /* check() refuses a filesystem that is not on a loop device */
        .check = check,
        .take = take,
        .finish = finish,
        .remove = remove_,
        .verify = verify,
};
