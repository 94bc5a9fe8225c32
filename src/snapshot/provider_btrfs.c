/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider_btrfs.c - the btrfs provider: a read-only snapshot
 * (BTRFS_IOC_SNAP_CREATE_V2) of the subvolume containing the path, in
 * SUBVOLUME/.quiesce-snapshots/NAME. Never frozen: the snapshot ioctl writes
 * a transaction and would wait for the thaw; it is atomic by itself.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "error.h"
#include "provider.h"

#define BTRFS_SUBVOL_ROOT_INO 256

struct snap_args {
        const char *subvolume; /* source */
        const char *dir;       /* SUBVOLUME/.quiesce-snapshots */
        const char *name;
};

static int snap_child(void *arg) {
        const struct snap_args *a = arg;
        int src = open(a->subvolume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0) {
                printf("open %s: %s\n", a->subvolume, strerror(errno));
                return errno;
        }
        int dst = open(a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dst < 0) {
                printf("open %s: %s\n", a->dir, strerror(errno));
                return errno;
        }
        struct btrfs_ioctl_vol_args_v2 v = {.fd = src, .flags = BTRFS_SUBVOL_RDONLY};
        snprintf(v.name, sizeof(v.name), "%s", a->name);
        if (ioctl(dst, BTRFS_IOC_SNAP_CREATE_V2, &v) < 0) {
                printf("BTRFS_IOC_SNAP_CREATE_V2 of %s into %s/%s: %s\n", a->subvolume, a->dir, a->name,
                       strerror(errno));
                return errno;
        }
        return 0;
}

static char *snap_dir(const char *subvolume) {
        char *d;
        if (asprintf(&d, "%s%s" QZ_BTRFS_SNAPSHOT_DIR, subvolume, strcmp(subvolume, "/") == 0 ? "" : "/") < 0)
                abort();
        return d;
}

static int check(qz_snap_ctx *ctx, qz_target *t, char **ret_error) {
        if (strcmp(t->fstype, "btrfs") != 0) {
                qz_set_error(ret_error,
                             "%s: %s (%s on %s) is %s, not btrfs; the btrfs provider snapshots btrfs "
                             "subvolumes (use --provider reflink or exec)",
                             t->path, t->mountpoint, t->id, t->source, t->fstype);
                return -EOPNOTSUPP;
        }
        if (!t->subvolume) {
                qz_set_error(
                        ret_error,
                        "%s: no btrfs subvolume root between it and its mount %s (a bind mount of a plain "
                        "directory?)",
                        t->path, t->mountpoint);
                return -EOPNOTSUPP;
        }
        char holds[128];
        if (qz_ctx_fs_frozen(ctx, t->id, holds, sizeof(holds))) {
                qz_set_error(
                        ret_error,
                        "%s: btrfs %s (%s) is frozen (quiesce hold %s); a btrfs snapshot would wait for its "
                        "thaw",
                        t->path, t->mountpoint, t->id, holds);
                return -EDEADLK;
        }
        char *dir = snap_dir(t->subvolume);
        struct stat st;
        if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
                qz_set_error(ret_error, "%s: %s exists and is not a directory", t->path, dir);
                free(dir);
                return -ENOTDIR;
        }
        free(t->location);
        if (asprintf(&t->location, "%s/%s", dir, ctx->name) < 0)
                abort();
        free(dir);
        if (lstat(t->location, &st) == 0) {
                qz_set_error(ret_error, "%s: %s already exists (choose another --name)", t->path,
                             t->location);
                return -EEXIST;
        }
        return 0;
}

/* .quiesce-snapshots is a subvolume of its own, so that later snapshots of
 * the subvolume do not contain the earlier ones. */
static int prepare(qz_snap_ctx *ctx, qz_target *t, char **ret_error) {
        char *dir = snap_dir(t->subvolume);
        struct stat st;
        int r = 0;
        if (lstat(dir, &st) == 0) {
                free(dir);
                return 0;
        }
        int fd = open(t->subvolume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                qz_set_error(ret_error, "%s: %s", t->subvolume, strerror(-r));
                free(dir);
                return r;
        }
        struct btrfs_ioctl_vol_args v = {0};
        snprintf(v.name, sizeof(v.name), "%s", QZ_BTRFS_SNAPSHOT_DIR);
        if (ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &v) < 0 && errno != EEXIST) {
                r = -errno;
                qz_set_error(ret_error, "%s: cannot create the subvolume %s: %s", t->path, dir, strerror(-r));
        }
        close(fd);
        free(dir);
        return r;
}

static void take(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, usec_t deadline, pid_t *pending) {
        char *dir = snap_dir(t->subvolume);
        struct snap_args a = {.subvolume = t->subvolume, .dir = dir, .name = ctx->name};
        _cleanup_free_ char *what = xasprintf("btrfs snapshot of %s", t->subvolume);
        qz_take_in_child(ctx, snap_child, &a, what, t->location, deadline, f, pending);
        free(dir);
}

static char *subvol_uuid(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        struct btrfs_ioctl_get_subvol_info_args info;
        memset(&info, 0, sizeof(info));
        int r = ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, &info);
        close(fd);
        if (r < 0)
                return NULL;
        char *s = malloc(37);
        if (!s)
                abort();
        const unsigned char *u = info.uuid;
        snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        return s;
}

static void finish(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f) {
        if (!f->snapshot)
                return; /* a killed snapshot ioctl either made the subvolume whole or not at all */
        free(f->snapshot_uuid);
        f->snapshot_uuid = subvol_uuid(f->snapshot);
        struct statvfs sv;
        if (statvfs(f->snapshot, &sv) == 0)
                f->size_bytes = (int64_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize);
}

static int destroy_with_tool(const char *path, char **ret_error) {
        char *argv[] = {"btrfs", "subvolume", "delete", (char *)path, NULL};
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .merge_stderr = true,
                           .deadline = qz_now() + 60 * USEC_PER_SEC,
                           .kill_grace = 2000 * USEC_PER_MSEC,
                           .reap_wait = 2000 * USEC_PER_MSEC};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        if (e < 0) {
                qz_set_error(ret_error, "cannot run btrfs subvolume delete: %s", strerror(-e));
                return e;
        }
        int ret = 0;
        if (!r.reaped || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
                char o[512];
                snprintf(o, sizeof(o), "%s", r.out.data ? r.out.data : "");
                o[strcspn(o, "\n")] = '\0';
                char d[64];
                qz_set_error(ret_error, "btrfs subvolume delete %s: %s%s%s", path,
                             qz_child_describe(&r, d, sizeof(d)), *o ? ": " : "", o);
                ret = -EIO;
        }
        qz_child_result_done(&r);
        return ret;
}

static int remove_(const qz_manifest *m, const qz_snap_fs *f, char **ret_error) {
        if (!f->snapshot)
                return 0;
        const char *tail = "/" QZ_BTRFS_SNAPSHOT_DIR "/";
        size_t tl = strlen(tail), sl = strlen(f->snapshot), nl = strlen(m->name);
        if (sl < tl + nl || strcmp(f->snapshot + sl - nl, m->name) != 0 ||
            strncmp(f->snapshot + sl - nl - tl, tail, tl) != 0) {
                qz_set_error(ret_error,
                             "%s: not SUBVOLUME/%s/%s as the btrfs provider names its snapshots; left alone",
                             f->snapshot, QZ_BTRFS_SNAPSHOT_DIR, m->name);
                return -EPERM;
        }
        struct stat st;
        if (lstat(f->snapshot, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                qz_set_error(ret_error, "%s: %s", f->snapshot, strerror(errno));
                return -errno;
        }
        if (!S_ISDIR(st.st_mode) || st.st_ino != BTRFS_SUBVOL_ROOT_INO) {
                qz_set_error(ret_error, "%s: not a btrfs subvolume; left alone", f->snapshot);
                return -EPERM;
        }
        if (f->snapshot_uuid) {
                char *u = subvol_uuid(f->snapshot);
                bool same = u && strcmp(u, f->snapshot_uuid) == 0;
                free(u);
                if (!same) {
                        qz_set_error(ret_error,
                                     "%s: not the subvolume the manifest recorded (UUID %s); left alone",
                                     f->snapshot, f->snapshot_uuid);
                        return -EPERM;
                }
        }
        char *parent = strdup(f->snapshot);
        if (!parent)
                abort();
        *strrchr(parent, '/') = '\0';
        int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(parent);
        if (fd >= 0) {
                struct btrfs_ioctl_vol_args v = {0};
                snprintf(v.name, sizeof(v.name), "%s", m->name);
                int r = ioctl(fd, BTRFS_IOC_SNAP_DESTROY, &v);
                close(fd);
                if (r == 0)
                        return 0;
        }
        return destroy_with_tool(f->snapshot, ret_error);
}

/* The snapshot is a subvolume with the recorded UUID. */
static qz_snap_state verify(const qz_manifest *m, const qz_snap_fs *f, char **ret_why) {
        struct stat st;
        qz_snap_state s;
        if (!qz_verify_stat(f->snapshot, false, &st, &s, ret_why))
                return s;
        if (!S_ISDIR(st.st_mode) || st.st_ino != BTRFS_SUBVOL_ROOT_INO) {
                qz_set_error(ret_why, "%s is not a btrfs subvolume", f->snapshot);
                return QZ_SNAP_DAMAGED;
        }
        if (!f->snapshot_uuid) {
                qz_set_error(ret_why, "%s is a subvolume (no UUID recorded to compare)", f->snapshot);
                return QZ_SNAP_INTACT;
        }
        char *u = subvol_uuid(f->snapshot);
        if (!u) {
                qz_set_error(ret_why, "%s: cannot read its subvolume UUID: %s", f->snapshot, strerror(errno));
                return QZ_SNAP_UNKNOWN;
        }
        bool same = strcmp(u, f->snapshot_uuid) == 0;
        if (same)
                qz_set_error(ret_why, "%s is the subvolume recorded (UUID %s)", f->snapshot, u);
        else
                qz_set_error(ret_why, "%s is another subvolume (UUID %s, the manifest recorded %s)",
                             f->snapshot, u, f->snapshot_uuid);
        free(u);
        return same ? QZ_SNAP_INTACT : QZ_SNAP_DAMAGED;
}

const qz_provider qz_provider_btrfs = {
        .name = "btrfs",
        .freezes = false,
        .atomic = true,
        .per_subvolume = true,
        .auto_fstype = "btrfs",
        .check = check,
        .prepare = prepare,
        .take = take,
        .finish = finish,
        .remove = remove_,
        .verify = verify,
};
