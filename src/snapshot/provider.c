/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider.c - what the providers share (provider.h): the list of them and
 * the choice "auto" makes, a snapshot made by one function in a child, a
 * snapshot's size, and whether quiesce has a filesystem frozen already.
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
#include "xalloc.h"

const qz_provider *const qz_providers[] = {
        &qz_provider_reflink, &qz_provider_btrfs, &qz_provider_exec, &qz_provider_lvm, NULL,
};

const qz_provider *qz_provider_by_name(const char *name) {
        for (size_t i = 0; name && qz_providers[i]; i++)
                if (strcmp(qz_providers[i]->name, name) == 0)
                        return qz_providers[i];
        return NULL;
}

const qz_provider *qz_provider_auto(const char *fstype) {
        const qz_provider *def = NULL;
        for (size_t i = 0; qz_providers[i]; i++) {
                const qz_provider *p = qz_providers[i];
                if (p->auto_fstype && fstype && strcmp(p->auto_fstype, fstype) == 0)
                        return p;
                if (p->auto_default && !def)
                        def = p;
        }
        return def;
}

void qz_take_in_child(const qz_snap_ctx *ctx, int (*fn)(void *arg), void *arg, const char *what,
                      const char *location, usec_t deadline, qz_snap_fs *f, pid_t *pending) {
        qz_child_spec s = {.fn = fn,
                           .arg = arg,
                           .exec_fd = -1,
                           .merge_stderr = true,
                           .deadline = deadline,
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
