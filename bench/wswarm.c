/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wswarm.c - a swarm of application writers for bench/run writers, on
 * libquiesce's writer API (quiesce.h, "Writers"), the way an application
 * registers.
 *
 *   wswarm --socket S [--count N] [--name PREFIX] PATH...
 *       registers N writers (each its own connection, qz_writer_open) for
 *       PATHs' filesystems, prints "READY N" and then serves them from one
 *       poll loop: every event (prepare, freeze, thaw, abort) is answered
 *       QZ_WRITER_OK at once from its callback, and its arrival time
 *       (CLOCK_MONOTONIC, ns) is kept. At EOF (or a line) on stdin it waits
 *       for the thaw of a freeze in progress (at most 2 s), closes the writers and prints one JSON object:
 * the events, as [writer, phase, freeze id, ns received, ns answered].
 *
 * Exits 1 if a writer cannot register, dispatch fails or quiesced goes away.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"

typedef struct event {
        int writer;
        qz_writer_phase phase;
        uint64_t freeze_id;
        int64_t got_ns, answered_ns;
} event;

typedef struct swarm {
        event *ev;
        size_t n_ev, cap_ev;
        int failed;
} swarm;

typedef struct member {
        swarm *s;
        int index;
} member;

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_event(qz_writer *w, const qz_writer_event *ev, void *userdata) {
        member *m = userdata;
        swarm *s = m->s;
        int64_t got = mono_ns();
        if (!ev->daemon_gone && qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_OK, NULL) < 0) {
                fprintf(stderr, "wswarm: writer %d: %s\n", m->index, qz_writer_error(w));
                s->failed = 1;
        }
        if (s->n_ev == s->cap_ev) {
                size_t cap = s->cap_ev ? 2 * s->cap_ev : 1024;
                event *e = realloc(s->ev, cap * sizeof(*e));
                if (!e) {
                        s->failed = 1;
                        return;
                }
                s->ev = e;
                s->cap_ev = cap;
        }
        s->ev[s->n_ev++] = (event){m->index, ev->phase, ev->freeze_id, got, mono_ns()};
}

static int any_frozen(qz_writer **w, long n) {
        for (long i = 0; i < n; i++)
                if (qz_writer_frozen(w[i]))
                        return 1;
        return 0;
}

static void usage(FILE *f) {
        fputs("usage: wswarm --socket PATH [--count N] [--name PREFIX] PATH...\n", f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"socket", required_argument, NULL, 's'},
                {"count", required_argument, NULL, 'n'},
                {"name", required_argument, NULL, 'p'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *sock = NULL, *prefix = "bench";
        long count = 1;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        sock = optarg;
                        break;
                case 'n':
                        count = strtol(optarg, NULL, 10);
                        break;
                case 'p':
                        prefix = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!sock || optind >= argc || count < 1 || count > 4096) {
                usage(stderr);
                return 2;
        }
        const char *const *paths = (const char *const *)argv + optind;
        size_t n_paths = (size_t)(argc - optind);

        swarm s = {0};
        qz_writer **w = calloc((size_t)count, sizeof(*w));
        member *m = calloc((size_t)count, sizeof(*m));
        struct pollfd *pfd = calloc((size_t)count + 1, sizeof(*pfd));
        if (!w || !m || !pfd) {
                fputs("wswarm: out of memory\n", stderr);
                return 1;
        }
        qz_writer_callbacks cb = {on_event, on_event, on_event, on_event};
        int rc = 0;
        long opened = 0;
        for (long i = 0; i < count; i++) {
                char name[64];
                snprintf(name, sizeof(name), "%s-%03ld", prefix, i + 1);
                qz_writer_options o = {.name = name, .socket_path = sock};
                m[i] = (member){&s, (int)i};
                int r = qz_writer_open(&o, paths, n_paths, &cb, &m[i], &w[i]);
                if (r < 0) {
                        fprintf(stderr, "wswarm: writer %ld: %s\n", i + 1, qz_writer_error(NULL));
                        rc = 1;
                        goto out;
                }
                opened++;
                pfd[i] = (struct pollfd){.fd = qz_writer_fd(w[i]), .events = POLLIN};
        }
        pfd[count] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        int timeout_ms = -1;
        int64_t linger_end = 0;
        printf("READY %ld\n", count);
        fflush(stdout);

        for (;;) {
                int np = poll(pfd, (nfds_t)count + 1, timeout_ms);
                if (np < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("wswarm: poll");
                        rc = 1;
                        break;
                }
                if (pfd[count].revents) {
                        /* a line or EOF: the harness is done; wait for the thaw owed */
                        linger_end = mono_ns() + 2000000000;
                        pfd[count].fd = -1;
                        timeout_ms = 10;
                }
                if (linger_end && (!any_frozen(w, count) || mono_ns() > linger_end))
                        break; /* a thaw that never came shows in the events */
                for (long i = 0; i < count; i++) {
                        if (!pfd[i].revents)
                                continue;
                        int r = qz_writer_dispatch(w[i]);
                        if (r < 0) {
                                fprintf(stderr, "wswarm: writer %ld: %s\n", i + 1,
                                        r == -ECONNRESET ? "quiesced went away" : qz_writer_error(w[i]));
                                rc = 1;
                                goto out;
                        }
                }
                if (s.failed) {
                        rc = 1;
                        break;
                }
        }
out:
        for (long i = 0; i < opened; i++)
                qz_writer_close(w[i]);
        printf("{\"writers\":%ld,\"registered\":%ld,\"events\":[", count, opened);
        for (size_t i = 0; i < s.n_ev; i++) {
                const event *e = &s.ev[i];
                printf("%s[%d,\"%s\",%" PRIu64 ",%" PRId64 ",%" PRId64 "]", i ? "," : "", e->writer,
                       qz_writer_phase_name(e->phase), e->freeze_id, e->got_ns, e->answered_ns);
        }
        printf("]}\n");
        free(s.ev);
        free(w);
        free(m);
        free(pfd);
        return rc;
}
