/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c - an application writer on libquiesce's writer API (README,
 * qz_writer_open(3)): a toy application that appends a numbered record to
 * DIR/journal every 100 ms, in its own poll() loop, and stops appending from
 * freeze to thaw, so a snapshot holds exactly the records its freeze answer
 * names. Built as build/examples/example-writer (not installed):
 *
 *   example-writer [--socket PATH] DIR
 *
 * Only the public API: cc writer.c $(pkg-config --cflags --libs libquiesce)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <quiesce.h>

struct app {
        int fd;                /* DIR/journal, appended to */
        unsigned long records; /* written so far */
        int paused;            /* between freeze and thaw (or abort) */
};

/* Outside the freeze window, with a generous timeout: the long work. */
static void on_prepare(qz_writer *w, const qz_writer_event *ev, void *userdata) {
        struct app *a = userdata;
        if (fdatasync(a->fd) < 0) {
                char why[128];
                snprintf(why, sizeof(why), "fdatasync of the journal: %s", strerror(errno));
                qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_VETO, why);
                return;
        }
        qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_OK, NULL);
}

/* Just before FIFREEZE, with a short timeout: stop writing, flush, answer. */
static void on_freeze(qz_writer *w, const qz_writer_event *ev, void *userdata) {
        struct app *a = userdata;
        char detail[64];
        a->paused = 1;
        if (fdatasync(a->fd) < 0) {
                snprintf(detail, sizeof(detail), "fdatasync: %s", strerror(errno));
                qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_FAIL, detail);
                return;
        }
        snprintf(detail, sizeof(detail), "records=%lu", a->records);
        qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_OK, detail);
}

/* Thaw and abort: go on writing. When quiesced went away (daemon_gone),
 * nobody reads an answer. */
static void on_release(qz_writer *w, const qz_writer_event *ev, void *userdata) {
        struct app *a = userdata;
        a->paused = 0;
        if (!ev->daemon_gone)
                qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_OK, NULL);
}

static qz_writer *open_writer(const char *socket_path, const char *dir, struct app *a) {
        static const qz_writer_callbacks cb = {
                .prepare = on_prepare, .freeze = on_freeze, .thaw = on_release, .abort = on_release};
        qz_writer_options o = {.name = "example", .freeze_timeout_ms = 1000, .socket_path = socket_path};
        const char *paths[] = {dir};
        qz_writer *w;
        int r = qz_writer_open(&o, paths, 1, &cb, a, &w);
        if (r < 0) {
                fprintf(stderr, "example-writer: %s\n", qz_writer_error(NULL));
                return NULL;
        }
        fprintf(stderr, "example-writer: registered (writer id %llu)\n", (unsigned long long)qz_writer_id(w));
        return w;
}

int main(int argc, char **argv) {
        const char *socket_path = NULL;
        if (argc == 4 && strcmp(argv[1], "--socket") == 0) {
                socket_path = argv[2];
                argv += 2, argc -= 2;
        }
        if (argc != 2) {
                fprintf(stderr, "usage: example-writer [--socket PATH] DIR\n");
                return 2;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/journal", argv[1]);
        struct app a = {.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)};
        if (a.fd < 0) {
                fprintf(stderr, "example-writer: %s: %s\n", path, strerror(errno));
                return 1;
        }
        qz_writer *w = open_writer(socket_path, argv[1], &a);
        if (!w)
                return 1;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        struct itimerspec every = {.it_interval = {0, 100000000}, .it_value = {0, 100000000}};
        if (sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &every, NULL) < 0) {
                fprintf(stderr, "example-writer: %s\n", strerror(errno));
                return 1;
        }
        int ret = 0;
        for (;;) {
                struct pollfd p[3] = {{.fd = qz_writer_fd(w), .events = POLLIN},
                                      {.fd = tfd, .events = POLLIN},
                                      {.fd = sfd, .events = POLLIN}};
                if (poll(p, 3, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents && qz_writer_dispatch(w) < 0) {
                        /* quiesced went away: the thaw callback ran already */
                        fprintf(stderr, "example-writer: %s\n", qz_writer_error(w));
                        ret = 1;
                        break;
                }
                if (p[1].revents) {
                        unsigned long long ticks;
                        if (read(tfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks) && !a.paused) {
                                char rec[64];
                                int n = snprintf(rec, sizeof(rec), "record %lu\n", a.records + 1);
                                if (write(a.fd, rec, (size_t)n) == n)
                                        a.records++;
                        }
                }
                if (p[2].revents)
                        break;
        }
        qz_writer_close(w);
        close(a.fd);
        printf("%lu records\n", a.records);
        return ret;
}
