/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qzload.c - load generator for quiesced, linked with libquiesce.
 *
 *   qzload nested --socket S [--clients N] [--duration SEC] [--fds] [--rate OPS] PATH
 *       N threads, each with its own connection (qz_client_open), each in a
 *       loop: qz_client_freeze(PATH) then qz_client_thaw_hold(id). PATH's
 *       filesystem should already be frozen by another hold, so every freeze
 *       only nests (no ioctl). One "pair" = one freeze + one thaw (two
 *       requests, two round trips); an operation is one request. Prints one
 *       JSON object: pairs/s, requests/s, and p50/p99/p999/max of the pair,
 *       of the freeze call, of the thaw call and of any request, in
 *       microseconds. --fds passes an open descriptor instead of the path
 *       (qz_client_freeze_fds / qz_client_thaw_hold).
 *
 *       Without --rate the loop is closed: each client sends its next request
 *       as soon as the last one is answered. With --rate it is open: OPS
 *       requests per second in total, each client on its own fixed schedule
 *       (one request every N/OPS seconds, the clients' schedules staggered),
 *       freeze and thaw alternating. A request whose slot has passed (the
 *       last one was late) is sent at once, and every latency is counted from
 *       the request's scheduled time, not from when it went out, so a stall
 *       is charged to every request it delayed (no coordinated omission).
 *       "service" is the time from the actual send.
 *
 *   qzload holds --socket S [--count N] [--connections C] PATH
 *       takes N holds on PATH, spread over C connections (default 1), prints
 *       "HELD N" and waits for a line on stdin (or EOF), then releases them and
 *       prints "RELEASED N". The harness reads quiesced's VmRSS in between.
 *
 * Every hold has a 60 s deadline and dies with its connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"

#define HOLD_TIMEOUT_MS 60000

static const char *sock_path;
static const char *target;
static bool use_fds;
static int64_t run_ns;
static double rate; /* requests/s over all clients; 0: closed loop */
static int n_clients;
static int64_t start_ns; /* the open loop's schedule starts here */
static atomic_bool failed;
static pthread_barrier_t start_line;

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct {
        size_t n, cap;
        int64_t *v;
} series;

static bool series_add(series *s, int64_t x) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 65536;
                int64_t *b = realloc(s->v, cap * sizeof(int64_t));
                if (!b)
                        return false;
                s->v = b;
                s->cap = cap;
        }
        s->v[s->n++] = x;
        return true;
}

typedef struct {
        pthread_t tid;
        int index;
        /* closed loop: from the send; open loop: from the schedule (a pair: the sum of its two requests') */
        series pair, frz, thw;
        series svc;  /* open loop: each request from its actual send */
        size_t late; /* open loop: requests sent more than 1 ms after their slot */
        char err[256];
} worker;

static void sleep_until(int64_t t) {
        struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static void *run_worker(void *arg) {
        worker *w = arg;
        qz_client *c;
        int r = qz_client_open(sock_path, &c);
        if (r < 0) {
                snprintf(w->err, sizeof w->err, "connect: %s", qz_client_error(NULL));
                atomic_store(&failed, true);
                pthread_barrier_wait(&start_line);
                pthread_barrier_wait(&start_line);
                return NULL;
        }
        int fd = -1;
        if (use_fds) {
                fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        snprintf(w->err, sizeof w->err, "open %s: %s", target, strerror(errno));
                        atomic_store(&failed, true);
                        qz_client_close(c);
                        pthread_barrier_wait(&start_line);
                        pthread_barrier_wait(&start_line);
                        return NULL;
                }
        }
        pthread_barrier_wait(&start_line); /* every thread connected */
        pthread_barrier_wait(&start_line); /* start_ns set */
        const char *paths[1] = {target};
        int64_t end = start_ns + run_ns;
        /* open loop: this client's k-th request is due at first + k * interval */
        int64_t interval = rate > 0 ? (int64_t)((double)n_clients * 1e9 / rate) : 0;
        int64_t first = start_ns + (interval * w->index) / n_clients;
        uint64_t k = 0;
        sleep_until(start_ns);
        for (;;) {
                int64_t s0 = rate > 0 ? first + (int64_t)k * interval : mono_ns();
                if (s0 >= end || atomic_load(&failed))
                        break;
                int64_t t0 = s0;
                if (rate > 0) {
                        sleep_until(s0);
                        t0 = mono_ns();
                        w->late += t0 - s0 > 1000000;
                }
                qz_hold *h;
                r = use_fds ? qz_client_freeze_fds(c, &fd, 1, HOLD_TIMEOUT_MS, 0, &h)
                            : qz_client_freeze(c, paths, 1, HOLD_TIMEOUT_MS, 0, &h);
                int64_t t1 = mono_ns();
                if (r < 0) {
                        snprintf(w->err, sizeof w->err, "freeze: %s", qz_client_error(c));
                        atomic_store(&failed, true);
                        break;
                }
                int64_t s1 = t1, t1s = t1;
                if (rate > 0) {
                        s1 = first + (int64_t)(k + 1) * interval;
                        sleep_until(s1);
                        t1s = mono_ns();
                        w->late += t1s - s1 > 1000000;
                }
                r = qz_client_thaw_hold(c, h->id);
                int64_t t2 = mono_ns();
                qz_hold_free(h);
                if (r < 0) {
                        snprintf(w->err, sizeof w->err, "thaw: %s", qz_client_error(c));
                        atomic_store(&failed, true);
                        break;
                }
                k += 2;
                bool ok = series_add(&w->pair, (t1 - s0) + (t2 - s1)) && series_add(&w->frz, t1 - s0) &&
                          series_add(&w->thw, t2 - s1);
                if (ok && rate > 0)
                        ok = series_add(&w->svc, t1 - t0) && series_add(&w->svc, t2 - t1s);
                if (!ok) {
                        snprintf(w->err, sizeof w->err, "out of memory");
                        atomic_store(&failed, true);
                        break;
                }
        }
        if (fd >= 0)
                close(fd);
        qz_client_close(c);
        return NULL;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static double pct_us(int64_t *v, size_t n, double q) {
        if (!n)
                return 0;
        size_t k = (size_t)(q * (double)n);
        if (k >= n)
                k = n - 1;
        return (double)v[k] / 1000.0;
}

static void print_dist(const char *name, int64_t *v, size_t n, bool last) {
        qsort(v, n, sizeof(*v), cmp_i64);
        printf("\"%s\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}%s", name,
               pct_us(v, n, 0.5), pct_us(v, n, 0.99), pct_us(v, n, 0.999),
               n ? (double)v[n - 1] / 1000.0 : 0.0, last ? "" : ",");
}

/* Concatenates one series of every worker (sorted later by print_dist). */
static int64_t *gather(worker *ws, int clients, size_t off, size_t *ret_n) {
        size_t total = 0;
        for (int i = 0; i < clients; i++)
                total += ((series *)((char *)&ws[i] + off))->n;
        int64_t *v = malloc((total ? total : 1) * sizeof(int64_t));
        if (!v)
                exit(1);
        size_t k = 0;
        for (int i = 0; i < clients; i++) {
                series *x = (series *)((char *)&ws[i] + off);
                if (x->n)
                        memcpy(v + k, x->v, x->n * sizeof(int64_t));
                k += x->n;
        }
        *ret_n = total;
        return v;
}

static int cmd_nested(int clients, double duration) {
        worker *ws = calloc((size_t)clients, sizeof(*ws));
        if (!ws)
                return 1;
        run_ns = (int64_t)(duration * 1e9);
        n_clients = clients;
        if (rate > 0)
                prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* wake at the slot, not up to 50 µs later */
        pthread_barrier_init(&start_line, NULL, (unsigned)clients + 1);
        for (int i = 0; i < clients; i++) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 256 * 1024);
                ws[i].index = i;
                if (pthread_create(&ws[i].tid, &attr, run_worker, &ws[i]) != 0) {
                        fprintf(stderr, "qzload: pthread_create failed\n");
                        return 1;
                }
                pthread_attr_destroy(&attr);
        }
        pthread_barrier_wait(&start_line); /* every client connected */
        start_ns = mono_ns() + 1000000;
        pthread_barrier_wait(&start_line);
        for (int i = 0; i < clients; i++)
                pthread_join(ws[i].tid, NULL);
        int64_t t1 = mono_ns();
        size_t late = 0;
        for (int i = 0; i < clients; i++) {
                late += ws[i].late;
                if (ws[i].err[0])
                        fprintf(stderr, "qzload: client %d: %s\n", i, ws[i].err);
        }
        size_t total, nf, nt, nr, ns;
        int64_t *pair = gather(ws, clients, offsetof(worker, pair), &total);
        int64_t *frz = gather(ws, clients, offsetof(worker, frz), &nf);
        int64_t *thw = gather(ws, clients, offsetof(worker, thw), &nt);
        int64_t *svc = gather(ws, clients, offsetof(worker, svc), &ns);
        int64_t *req = malloc((nf + nt + 1) * sizeof(int64_t));
        if (!req)
                return 1;
        memcpy(req, frz, nf * sizeof(int64_t));
        memcpy(req + nf, thw, nt * sizeof(int64_t));
        nr = nf + nt;
        /* Open loop: the rate over the scheduled window (the last replies may come after it). */
        double secs = (double)(t1 - start_ns) / 1e9;
        if (rate > 0 && secs < duration)
                secs = duration;
        printf("{\"mode\":\"%s\",\"clients\":%d,\"seconds\":%.3f,\"pairs\":%zu,\"pairs_per_s\":%.0f,"
               "\"requests\":%zu,\"requests_per_s\":%.0f,\"offered_per_s\":%.0f,\"late_sends\":%zu,"
               "\"failed\":%s,",
               rate > 0 ? "open" : "closed", clients, secs, total, (double)total / secs, nr,
               (double)nr / secs, rate, late, atomic_load(&failed) ? "true" : "false");
        print_dist("pair", pair, total, false);
        print_dist("freeze", frz, nf, false);
        print_dist("thaw", thw, nt, false);
        if (rate > 0)
                print_dist("service", svc, ns, false);
        print_dist("request", req, nr, true);
        printf("}\n");
        return atomic_load(&failed) ? 1 : 0;
}

static int cmd_holds(int count, int conns) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
                rl.rlim_cur = rl.rlim_max < (rlim_t)conns + 64 ? rl.rlim_max : (rlim_t)conns + 64;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        qz_client **cs = calloc((size_t)conns, sizeof(*cs));
        uint64_t *ids = calloc((size_t)count, sizeof(*ids));
        int *owner = calloc((size_t)count, sizeof(*owner));
        if (!cs || !ids || !owner)
                return 1;
        for (int i = 0; i < conns; i++) {
                if (qz_client_open(sock_path, &cs[i]) < 0) {
                        fprintf(stderr, "qzload: connection %d: %s\n", i, qz_client_error(NULL));
                        return 1;
                }
        }
        const char *paths[1] = {target};
        int held = 0;
        for (int i = 0; i < count; i++) {
                qz_client *c = cs[i % conns];
                qz_hold *h;
                int r = qz_client_freeze(c, paths, 1, HOLD_TIMEOUT_MS, 0, &h);
                if (r < 0) {
                        fprintf(stderr, "qzload: hold %d: %s\n", i, qz_client_error(c));
                        break;
                }
                ids[i] = h->id;
                owner[i] = i % conns;
                qz_hold_free(h);
                held++;
        }
        printf("HELD %d\n", held);
        fflush(stdout);
        char line[64];
        (void)!fgets(line, sizeof line, stdin);
        int released = 0;
        for (int i = 0; i < held; i++)
                if (qz_client_thaw_hold(cs[owner[i]], ids[i]) == 0)
                        released++;
        for (int i = 0; i < conns; i++)
                qz_client_close(cs[i]);
        printf("RELEASED %d\n", released);
        return held == count && released == held ? 0 : 1;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"socket", required_argument, NULL, 's'},   {"clients", required_argument, NULL, 'c'},
                {"duration", required_argument, NULL, 'd'}, {"fds", no_argument, NULL, 'f'},
                {"count", required_argument, NULL, 'n'},    {"connections", required_argument, NULL, 'C'},
                {"rate", required_argument, NULL, 'r'},     {NULL, 0, NULL, 0},
        };
        if (argc < 2) {
                fprintf(stderr, "usage: qzload nested|holds --socket S [options] PATH\n");
                return 2;
        }
        const char *mode = argv[1];
        int clients = 1, count = 1000, conns = 1, c;
        double duration = 3.0;
        optind = 2;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        sock_path = optarg;
                        break;
                case 'c':
                        clients = atoi(optarg);
                        break;
                case 'd':
                        duration = atof(optarg);
                        break;
                case 'f':
                        use_fds = true;
                        break;
                case 'n':
                        count = atoi(optarg);
                        break;
                case 'C':
                        conns = atoi(optarg);
                        break;
                case 'r':
                        rate = atof(optarg);
                        break;
                default:
                        return 2;
                }
        }
        if (optind != argc - 1 || clients < 1 || conns < 1 || count < 1 || duration <= 0 || rate < 0) {
                fprintf(stderr, "usage: qzload nested|holds --socket S [options] PATH\n");
                return 2;
        }
        target = argv[optind];
        if (strcmp(mode, "nested") == 0)
                return cmd_nested(clients, duration);
        if (strcmp(mode, "holds") == 0)
                return cmd_holds(count, conns);
        fprintf(stderr, "qzload: unknown mode %s\n", mode);
        return 2;
}
