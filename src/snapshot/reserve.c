/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reserve.c - owns snapshot names: a run reserves its name in the store
 * (STORE/.NAME.reserved, created O_EXCL and flock'ed for the run's life)
 * before any provider work; unique default names (TIME, TIME-2, ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mkdirp.h"
#include "snapshot.h"

#define RESERVE_TRIES 9999 /* BASE, BASE-2 ... BASE-9999 */

char *qz_reservation_path(const char *store, const char *name) {
        char *p;
        if (asprintf(&p, "%s/.%s" QZ_RESERVATION_SUFFIX, store, name) < 0)
                abort();
        return p;
}

/* Is fd still the file linked at path (not unlinked or replaced by a release)? */
static bool still_linked(int fd, const char *path) {
        struct stat a, b;
        return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static long holder_pid(int fd) {
        char buf[32];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        return strtol(buf, NULL, 10);
}

enum { TAKEN_MANIFEST = 1, TAKEN_LIVE = 2 };

/* The name has its manifest: a reservation left beside it by a run killed
 * after writing it is removed (one still locked belongs to a live run). */
static void drop_leftover(const char *path) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && still_linked(fd, path))
                unlink(path);
        close(fd);
}

/* One attempt at name: 0 (reserved: r filled), TAKEN_MANIFEST, TAKEN_LIVE
 * (*pid: the holder's, 0 unknown), or -errno. */
static int try_name(const char *store, const char *name, qz_reservation *r, long *pid) {
        char *path = qz_reservation_path(store, name);
        int ret;
        for (int round = 0;; round++) {
                if (qz_manifest_exists(store, name)) {
                        drop_leftover(path);
                        ret = TAKEN_MANIFEST;
                        break;
                }
                bool fresh = true;
                int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0 && errno == EEXIST) {
                        fresh = false;
                        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0 && errno == ENOENT && round < 100)
                                continue; /* released meanwhile: try again */
                }
                if (fd < 0) {
                        ret = -errno;
                        break;
                }
                /* Whoever holds the lock on the linked file owns the name. A
                 * file nobody holds is a killed run's (or one being created
                 * this instant: then its creator finds it locked and moves on). */
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        int e = errno;
                        *pid = holder_pid(fd);
                        close(fd);
                        ret = e == EWOULDBLOCK ? TAKEN_LIVE : -e;
                        break;
                }
                if (!still_linked(fd, path)) {
                        close(fd); /* released (unlinked) between our open and our lock */
                        if (round < 100)
                                continue;
                        ret = -EAGAIN;
                        break;
                }
                /* A killed run may have written its manifest and died before
                 * removing its reservation; a manifest is final. */
                if (qz_manifest_exists(store, name)) {
                        unlink(path);
                        close(fd);
                        ret = TAKEN_MANIFEST;
                        break;
                }
                char line[32];
                int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
                if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n) {
                        ret = -errno;
                        if (fresh)
                                unlink(path);
                        close(fd);
                        break;
                }
                r->fd = fd;
                r->path = path;
                r->reclaimed = !fresh;
                snprintf(r->name, sizeof(r->name), "%s", name);
                return 0;
        }
        free(path);
        return ret;
}

static void init(qz_reservation *r) {
        memset(r, 0, sizeof(*r));
        r->fd = -1;
}

static int prepare_store(const char *store, qz_reservation *r, char **ret_error) {
        bool created;
        int e = qz_mkdir_p(store, 0755, &created);
        if (e < 0) {
                qz_set_error(ret_error, "cannot create the snapshot store %s: %s", store, strerror(-e));
                return e;
        }
        if (created) {
                r->store = strdup(store); /* removed again if still empty at the release */
                if (!r->store)
                        abort();
        }
        return 0;
}

int qz_snapshot_reserve(const char *store, const char *name, qz_reservation *r, char **ret_error) {
        init(r);
        if (!name) {
                char base[32];
                qz_snapshot_default_name(base, sizeof(base));
                return qz_snapshot_reserve_unique(store, base, r, ret_error);
        }
        if (!qz_snapshot_name_valid(name)) {
                qz_set_error(
                        ret_error,
                        "invalid snapshot name '%s' (1 to %d of A-Z a-z 0-9 . _ + -, not starting with '.' "
                        "or '-')",
                        name, QZ_SNAPSHOT_NAME_MAX);
                return -EINVAL;
        }
        int e = prepare_store(store, r, ret_error);
        if (e < 0)
                return e;
        long pid = 0;
        e = try_name(store, name, r, &pid);
        if (e == TAKEN_MANIFEST)
                qz_set_error(ret_error,
                             "a snapshot named %s exists already (%s/%s.json); choose another --name", name,
                             store, name);
        else if (e == TAKEN_LIVE && pid > 0)
                qz_set_error(ret_error,
                             "a snapshot named %s is being taken by another quiesce (pid %ld, "
                             "%s/.%s" QZ_RESERVATION_SUFFIX "); choose another --name",
                             name, pid, store, name);
        else if (e == TAKEN_LIVE)
                qz_set_error(
                        ret_error,
                        "a snapshot named %s is being taken by another quiesce (%s/.%s" QZ_RESERVATION_SUFFIX
                        "); choose another --name",
                        name, store, name);
        else if (e < 0)
                qz_set_error(ret_error, "cannot reserve the name %s in %s: %s", name, store, strerror(-e));
        if (e == 0)
                return 0;
        qz_reservation_release(r);
        return e > 0 ? -EEXIST : e;
}

int qz_snapshot_reserve_unique(const char *store, const char *base, qz_reservation *r, char **ret_error) {
        init(r);
        if (!qz_snapshot_name_valid(base)) {
                qz_set_error(ret_error, "invalid snapshot name '%s'", base);
                return -EINVAL;
        }
        int e = prepare_store(store, r, ret_error);
        if (e < 0)
                return e;
        char name[QZ_SNAPSHOT_NAME_MAX + 1];
        for (int i = 1; i <= RESERVE_TRIES; i++) {
                if (i == 1)
                        snprintf(name, sizeof(name), "%s", base);
                else if (snprintf(name, sizeof(name), "%s-%d", base, i) >= (int)sizeof(name))
                        break;
                long pid = 0;
                e = try_name(store, name, r, &pid);
                if (e == 0)
                        return 0;
                if (e < 0) {
                        qz_set_error(ret_error, "cannot reserve the name %s in %s: %s", name, store,
                                     strerror(-e));
                        qz_reservation_release(r);
                        return e;
                }
        }
        qz_set_error(ret_error, "no free snapshot name from %s to %s-%d in %s; choose one with --name", base,
                     base, RESERVE_TRIES, store);
        qz_reservation_release(r);
        return -EEXIST;
}

void qz_reservation_release(qz_reservation *r) {
        if (r->fd >= 0) {
                /* unlinked while still locked: nobody can take it over as stale */
                if (r->path)
                        unlink(r->path);
                close(r->fd);
        }
        if (r->store)
                (void)rmdir(r->store); /* only when this run created it and nothing is in it */
        free(r->path);
        free(r->store);
        init(r);
}
