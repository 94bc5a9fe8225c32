/* SPDX-License-Identifier: GPL-2.0-or-later */
/* seed.c - the seed patch's ioctl-shaped API (qz_freeze, qz_thaw,
 * qz_reset_timeout: 0, or -1 with errno) over one process-wide connection,
 * opened lazily under a mutex and never shared with a forked child.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"

enum seed_op { SEED_FREEZE, SEED_THAW, SEED_RESET };

static pthread_mutex_t seed_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;
static qz_client *seed_client;
static pid_t seed_pid;
static __thread char seed_detail[1024];

const char *qz_strerror_detail(void) {
        return seed_detail;
}

/* In a forked child the parent's connection must not be used, nor kept open:
 * its holds belong to the parent and must end when the parent's do. */
static void seed_atfork_child(void) {
        pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
        seed_lock = fresh;
        if (seed_client && seed_client->fd >= 0) {
                close(seed_client->fd);
                qz_client_forget_fd(seed_client);
        }
}

static void seed_register_atfork(void) {
        pthread_atfork(NULL, NULL, seed_atfork_child);
}

/* -seconds semantics of the patch: 0 or 1 mean no deadline. */
static int seconds_to_ms(const long *timeout_sec, int64_t *ret) {
        if (!timeout_sec || *timeout_sec == 0 || *timeout_sec == 1) {
                *ret = QZ_NO_DEADLINE;
                return 0;
        }
        if (*timeout_sec < 0 || *timeout_sec > 365L * 24 * 3600)
                return -EINVAL;
        *ret = (int64_t)*timeout_sec * 1000;
        return 0;
}

static int fail(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(seed_detail, sizeof(seed_detail), fmt, ap);
        va_end(ap);
        errno = -r;
        return -1;
}

static int seed_call(enum seed_op op, int fd, long *timeout_sec) {
        if (fd < 0)
                return fail(-EBADF, "invalid file descriptor %d", fd);
        int64_t timeout_ms = QZ_NO_DEADLINE;
        if (op == SEED_RESET && !timeout_sec)
                return fail(-EINVAL, "qz_reset_timeout: no timeout given");
        if (op != SEED_THAW && seconds_to_ms(timeout_sec, &timeout_ms) < 0)
                return fail(-EINVAL, "invalid timeout %ld s", *timeout_sec);

        pthread_once(&seed_once, seed_register_atfork);
        pthread_mutex_lock(&seed_lock);
        pid_t pid = getpid();
        if (seed_client && (seed_pid != pid || seed_client->fd < 0)) {
                /* Forked (the atfork handler closed the socket) or the daemon
                 * closed the connection: its holds are gone; start afresh. */
                if (seed_pid != pid)
                        qz_client_forget_fd(seed_client);
                qz_client_close(seed_client);
                seed_client = NULL;
        }
        if (!seed_client) {
                int r = qz_client_open(NULL, &seed_client);
                if (r < 0) {
                        fail(r, "%s", qz_client_error(NULL));
                        pthread_mutex_unlock(&seed_lock);
                        return -1;
                }
                seed_pid = pid;
        }
        int r;
        switch (op) {
        case SEED_FREEZE:
                r = qz_client_freeze_fds(seed_client, &fd, 1, timeout_ms, 0, NULL);
                break;
        case SEED_THAW:
                r = qz_client_thaw_fds(seed_client, &fd, 1);
                break;
        default:
                r = qz_client_reset_timeout_fds(seed_client, &fd, 1, timeout_ms);
                break;
        }
        if (r < 0)
                fail(r, "%s", qz_client_error(seed_client));
        pthread_mutex_unlock(&seed_lock);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

int qz_freeze(int fd, long *timeout_sec) {
        return seed_call(SEED_FREEZE, fd, timeout_sec);
}

int qz_thaw(int fd) {
        return seed_call(SEED_THAW, fd, NULL);
}

int qz_reset_timeout(int fd, long *timeout_sec) {
        return seed_call(SEED_RESET, fd, timeout_sec);
}
