/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lock.c - one run of a job at a time: flock(LOCK_EX) on
 * /run/quiesce/jobs/NAME.lock (tmpfs: never on a filesystem a job freezes),
 * which the kernel releases when the process dies, however it dies. The
 * file says who holds it ("PID SINCE"), for the refusal's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "job.h"
#include "mkdirp.h"
#include "xalloc.h"

char *qz_job_lock_dir(void) {
        const char *e = getenv(QZ_JOB_LOCK_DIR_ENV);
        return xstrdup(e && *e ? e : QZ_DEFAULT_JOB_LOCK_DIR);
}

/* Who holds it, from the file: "pid N, since 2026-12-02 03:00:00 UTC". */
static char *holder(int fd) {
        char buf[128] = "";
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        long long pid = 0, since = 0;
        if (n <= 0 || sscanf(buf, "%lld %lld", &pid, &since) != 2)
                return xstrdup("pid unknown");
        time_t t = (time_t)since;
        struct tm tm;
        char when[64];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
        return xasprintf("pid %lld, since %s", pid, when);
}

int qz_job_lock_take(const char *name, bool wait, qz_job_lock *l, char **ret_error) {
        l->fd = -1;
        l->path = NULL;
        _cleanup_free_ char *dir = qz_job_lock_dir();
        int r = qz_mkdir_p(dir, 0755, NULL);
        if (r < 0)
                return qz_error(ret_error, r, "%s: cannot make the lock directory: %s", dir, strerror(-r));
        _cleanup_free_ char *path = xasprintf("%s/%s.lock", dir, name);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                r = -errno;
                return qz_error(ret_error, r, "%s: %s", path, strerror(-r));
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                r = -errno;
                if (r != -EWOULDBLOCK)
                        return qz_error(ret_error, r, "%s: flock: %s", path, strerror(-r));
                _cleanup_free_ char *who = holder(fd);
                if (!wait)
                        return qz_error(ret_error, -EBUSY, "job \"%s\" is already running (%s; lock %s)",
                                        name, who, path);
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR) {
                                r = -errno;
                                return qz_error(ret_error, r, "%s: flock: %s", path, strerror(-r));
                        }
        }
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "%lld %lld\n", (long long)getpid(), (long long)time(NULL));
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
                r = -errno;
                return qz_error(ret_error, r, "%s: %s", path, strerror(-r));
        }
        l->fd = TAKE_FD(fd);
        l->path = TAKE_PTR(path);
        return 0;
}

void qz_job_lock_release(qz_job_lock *l) {
        if (l->fd >= 0) {
                /* emptied, not removed: a removed file could be locked anew by a
                 * waiter on the old inode while a third run creates another */
                (void)!ftruncate(l->fd, 0);
                close(l->fd);
        }
        l->fd = -1;
        free(l->path);
        l->path = NULL;
}
