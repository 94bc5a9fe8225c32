/* SPDX-License-Identifier: GPL-2.0-or-later */
/* targets.c - a request's paths or descriptors as filesystems (see
 * targets.h): opened or taken, identified in the mount table (mounts.c),
 * registered with holds.c, refused when freezing them cannot be right, and
 * put in the order a group freezes in.
 */
#include "targets.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "quiesce.h"
#include "reply.h"
#include "server.h"
#include "xalloc.h"

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

void qz_targets_free(qzd_target *t, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (t[i].fd >= 0)
                        close(t[i].fd);
                free(t[i].path);
                free(t[i].name);
                t[i].fd = -1;
                t[i].path = t[i].name = NULL;
        }
}

int qz_targets_resolve(qz_conn *c, const qz_request *req, bool freezing, qzd_target *t, size_t *ret_n) {
        qz_daemon *d = qz_conn_daemon(c);
        size_t n = req->n_targets;
        bool have_fds = req->n_fds > 0;
        int fds[QZ_MAX_TARGETS];
        size_t arrived;
        if (have_fds && qz_conn_take_fds(c, fds, n, &arrived) < 0) {
                qz_reply_error(c, -EBADMSG, NULL, "the request announced %zu descriptors but %zu arrived", n,
                               arrived);
                return -EBADMSG;
        }
        for (size_t i = 0; i < n; i++)
                t[i] = (qzd_target){.fd = have_fds ? fds[i] : -1};
        int r = 0;
        for (size_t done = 0; done < n; done++) {
                qzd_target *x = &t[done];
                const char *p = req->paths[done];
                char name[64];
                if (!p) {
                        snprintf(name, sizeof(name), "descriptor #%zu", done);
                        p = name;
                }
                x->path = strdup(p);
                if (!x->path) {
                        qz_reply_error(c, r = -ENOMEM, NULL, "out of memory");
                        goto fail;
                }
                if (x->fd < 0) {
                        x->fd = open(p, O_PATH | O_CLOEXEC);
                        if (x->fd < 0) {
                                r = -errno;
                                qz_reply_error(c, r, p, "%s: %s", p, strerror(-r));
                                goto fail;
                        }
                }
                qz_mount_info info;
                r = qz_mounts_identify_fd(d->mounts, x->fd, &info);
                if (r < 0) {
                        qz_reply_error(c, r, p,
                                       "%s: cannot find its filesystem in quiesced's mount table: %s", p,
                                       strerror(-r));
                        goto fail;
                }
                if (!(S_ISDIR(info.mode) || S_ISREG(info.mode))) {
                        qz_reply_error(
                                c, r = -EINVAL, p,
                                "%s: not a directory or regular file; name a path inside the filesystem "
                                "(%s %s (mounted at %s))",
                                p, info.fstype, info.id, info.mountpoint);
                        goto fail;
                }
                bool created;
                x->fs = qz_holds_get_fs(d->holds, &info, freezing, &created);
                if (freezing && !x->fs) {
                        qz_reply_error(c, r = -ENOMEM, p, "%s: out of memory", p);
                        goto fail;
                }
                if (created) /* the group order needs it; it does not change while mounted */
                        x->fs->host_devno = qz_mounts_loop_host(d->mounts, x->fs->source);
                if (!x->fs) /* unknown to quiesced: its name, for the message that says so */
                        x->name = xasprintf("%s %s (mounted at %s)", info.fstype, info.id, info.mountpoint);
                if (freezing && x->fs->ioctl_fd < 0) {
                        /* A descriptor the ioctls accept, whatever the client sent (O_PATH ...);
                         * a filesystem already held keeps the one it has (a nested freeze
                         * issues no ioctl), so this one would only be closed again. */
                        char proc[64];
                        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", x->fd);
                        int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                                    (S_ISDIR(info.mode) ? O_DIRECTORY : 0));
                        if (fd < 0) {
                                r = -errno;
                                qz_reply_error(c, r, p, "%s: cannot open it: %s", p, strerror(-r));
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
        qz_targets_free(t, n);
        return r;
}

int qz_targets_check_freeze(qz_conn *c, qzd_target *t, size_t n, usec_t timeout, size_t *ret_m) {
        qz_daemon *d = qz_conn_daemon(c);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                qz_fs *fs = t[i].fs;
                const char *p = t[i].path;
                int r = 0;
                if (is_unfreezable(fs->fstype))
                        qz_reply_error(c, r = -EOPNOTSUPP, p,
                                       "%s: %s %s (mounted at %s) does not support freezing", p, fs->fstype,
                                       fs->id, fs->mountpoint);
                else if (fs->devno == d->runtime_devno)
                        qz_reply_error(c, r = -EDEADLK, p,
                                       "%s: %s %s (mounted at %s) holds quiesced's runtime directory %s; "
                                       "freezing it would block the daemon that must thaw it",
                                       p, fs->fstype, fs->id, fs->mountpoint, d->runtime_dir);
                else if (fs->is_root && timeout == QZ_USEC_INFINITY)
                        /* an Error, not an InvalidRequest: it names the path */
                        qz_reply_error(c, r = -EINVAL, p,
                                       "%s: refusing to freeze the root filesystem (%s %s) without a finite "
                                       "deadline; give a timeout",
                                       p, fs->fstype, fs->id);
                if (r < 0) {
                        /* t[m..i) were moved down or freed as duplicates */
                        qz_targets_free(t, m);
                        qz_targets_free(t + i, n - i);
                        return r;
                }
                bool dup = false;
                for (size_t j = 0; j < m; j++)
                        dup |= t[j].fs == fs;
                if (dup) {
                        qz_targets_free(&t[i], 1);
                        continue;
                }
                t[m++] = t[i];
        }
        *ret_m = m;
        return 0;
}

static int nesting_level(qz_daemon *d, const qz_fs *fs) {
        int level = 0;
        for (dev_t host = fs->host_devno; host && level < 8; level++)
                host = qz_mounts_host_of_devno(d->mounts, host);
        return level;
}

void qz_targets_order(qz_conn *c, qzd_target *t, size_t n) {
        qz_daemon *d = qz_conn_daemon(c);
        int key[QZ_MAX_TARGETS];
        for (size_t i = 0; i < n; i++)
                key[i] = t[i].fs->is_root ? -1 : nesting_level(d, t[i].fs);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && key[j - 1] < key[j]; j--) {
                        qzd_target tt = t[j];
                        t[j] = t[j - 1];
                        t[j - 1] = tt;
                        int k = key[j];
                        key[j] = key[j - 1];
                        key[j - 1] = k;
                }
}

const char *qz_targets_gone_suffix(const qz_fs *fs, char *buf, size_t size) {
        char why[96];
        if (fs && fs->last_gone.id)
                snprintf(buf, size, " (last: hold %" PRIu64 " %s)", fs->last_gone.id,
                         qz_gone_text(&fs->last_gone, why, sizeof(why)));
        else
                buf[0] = '\0';
        return buf;
}

int qz_targets_holds(qz_conn *c, const qzd_target *t, size_t n, qzd_hold **ret) {
        qz_daemon *d = qz_conn_daemon(c);
        uid_t uid = qz_conn_cred(c)->uid;
        for (size_t i = 0; i < n; i++) {
                qzd_hold *hold = t[i].fs ? qz_holds_find_for(d->holds, t[i].fs, c, uid) : NULL;
                if (!hold) {
                        char suffix[200];
                        if (t[i].fs)
                                qz_reply_error(c, -EINVAL, t[i].path,
                                               "%s: %s %s (mounted at %s) has no quiesce hold of yours%s",
                                               t[i].path, t[i].fs->fstype, t[i].fs->id, t[i].fs->mountpoint,
                                               qz_targets_gone_suffix(t[i].fs, suffix, sizeof(suffix)));
                        else
                                qz_reply_error(c, -EINVAL, t[i].path, "%s: %s is not frozen by quiesce",
                                               t[i].path, t[i].name);
                        return -EINVAL;
                }
                ret[i] = hold;
        }
        return 0;
}
