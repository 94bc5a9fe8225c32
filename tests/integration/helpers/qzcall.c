/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qzcall - drives libquiesce's seed API (qz_freeze, qz_thaw, qz_reset_timeout)
 * from the integration tests, one operation per argument, in order:
 *
 *   open:PATH     open PATH (file or directory) as the current descriptor
 *   freeze:SECS   qz_freeze(fd, &SECS)        (0 or 1: no deadline of its own)
 *   thaw          qz_thaw(fd)
 *   reset:SECS    qz_reset_timeout(fd, &SECS)
 *   write:FILE    create FILE, write a line, fsync it (blocks on a frozen fs)
 *   sleep:MS      sleep
 *   wait          read one line from stdin (lets the test pace the steps)
 *
 * Each operation prints one line, flushed:
 *   OP rc=R errno=NAME ms=ELAPSED detail=TEXT
 * The exit status is 0 when every operation ran (whatever it returned), 2 on
 * a usage error. The socket comes from $QUIESCE_SOCKET.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void report(const char *op, int rc, int err, double start, const char *detail) {
        const char *name = rc == 0 ? "0" : strerrorname_np(err);
        printf("%s rc=%d errno=%s ms=%.0f mono=%.3f detail=%s\n", op, rc, name ? name : "?", now_ms() - start,
               now_ms() / 1000.0, detail ? detail : "");
        fflush(stdout);
}

static int do_write(const char *file) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        static const char line[] = "qzcall was here\n";
        if (write(fd, line, sizeof line - 1) != (ssize_t)(sizeof line - 1) || fsync(fd) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return close(fd);
}

int main(int argc, char **argv) {
        int fd = -1;

        if (argc < 2) {
                fprintf(stderr, "usage: qzcall OP...\n");
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                char *op = argv[i];
                char *arg = strchr(op, ':');
                if (arg)
                        *arg++ = '\0';
                double start = now_ms();
                int rc = 0, err = 0;

                if (strcmp(op, "open") == 0 && arg) {
                        if (fd >= 0)
                                close(fd);
                        fd = open(arg, O_RDONLY | O_CLOEXEC);
                        rc = fd < 0 ? -1 : 0;
                        err = errno;
                } else if (strcmp(op, "freeze") == 0 && arg) {
                        long t = strtol(arg, NULL, 10);
                        rc = qz_freeze(fd, &t);
                        err = errno;
                } else if (strcmp(op, "thaw") == 0) {
                        rc = qz_thaw(fd);
                        err = errno;
                } else if (strcmp(op, "reset") == 0 && arg) {
                        long t = strtol(arg, NULL, 10);
                        rc = qz_reset_timeout(fd, &t);
                        err = errno;
                } else if (strcmp(op, "write") == 0 && arg) {
                        rc = do_write(arg);
                        err = errno;
                } else if (strcmp(op, "sleep") == 0 && arg) {
                        long ms = strtol(arg, NULL, 10);
                        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
                        nanosleep(&ts, NULL);
                } else if (strcmp(op, "wait") == 0) {
                        char buf[64];
                        if (!fgets(buf, sizeof buf, stdin))
                                rc = -1, err = EPIPE;
                } else {
                        fprintf(stderr, "qzcall: unknown operation %s\n", argv[i]);
                        return 2;
                }
                const char *detail = "";
                if (rc != 0 &&
                    (strcmp(op, "freeze") == 0 || strcmp(op, "thaw") == 0 || strcmp(op, "reset") == 0))
                        detail = qz_strerror_detail();
                report(op, rc, err, start, detail);
        }
        if (fd >= 0)
                close(fd);
        return 0;
}
