/* qzload.c - load generator for quiesced, linked with libquiesce.
 *
 *   qzload nested --socket S [--clients N] [--duration SEC] [--fds] PATH
 *       N threads, each with its own connection (qz_client_open), each in a
 *       loop: qz_client_freeze(PATH) then qz_client_thaw_hold(id). PATH's
 *       filesystem should already be frozen by another hold, so every freeze
 *       only nests (no ioctl). One "pair" = one freeze + one thaw (two
 *       requests, two round trips). Prints one JSON object: pairs/s,
 *       requests/s, and p50/p99/max of the pair, of the freeze call and of the
 *       thaw call, in microseconds. --fds passes an open descriptor instead of
 *       the path (qz_client_freeze_fds / qz_client_thaw_hold).
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "quiesce.h"

#define HOLD_TIMEOUT_MS 60000

static const char *sock_path;
static const char *target;
static bool use_fds;
static int64_t run_ns;
static atomic_bool failed;
static pthread_barrier_t start_line;

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct {
        pthread_t tid;
        size_t n, cap;
        int64_t *pair, *frz, *thw;
        char err[256];
} worker;

static void *run_worker(void *arg) {
        worker *w = arg;
        qz_client *c;
        int r = qz_client_open(sock_path, &c);
        if (r < 0) {
                snprintf(w->err, sizeof w->err, "connect: %s", qz_client_error(NULL));
                atomic_store(&failed, true);
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
                        return NULL;
                }
        }
        pthread_barrier_wait(&start_line); /* every thread connected */
        const char *paths[1] = {target};
        int64_t end = mono_ns() + run_ns;
        for (;;) {
                int64_t t0 = mono_ns();
                if (t0 >= end || atomic_load(&failed))
                        break;
                qz_hold *h;
                r = use_fds ? qz_client_freeze_fds(c, &fd, 1, HOLD_TIMEOUT_MS, 0, &h)
                            : qz_client_freeze(c, paths, 1, HOLD_TIMEOUT_MS, 0, &h);
                int64_t t1 = mono_ns();
                if (r < 0) {
                        snprintf(w->err, sizeof w->err, "freeze: %s", qz_client_error(c));
                        atomic_store(&failed, true);
                        break;
                }
                r = qz_client_thaw_hold(c, h->id);
                int64_t t2 = mono_ns();
                qz_hold_free(h);
                if (r < 0) {
                        snprintf(w->err, sizeof w->err, "thaw: %s", qz_client_error(c));
                        atomic_store(&failed, true);
                        break;
                }
                if (w->n == w->cap) {
                        size_t cap = w->cap ? w->cap * 2 : 65536;
                        int64_t *a = realloc(w->pair, cap * sizeof(int64_t));
                        int64_t *b = a ? realloc(w->frz, cap * sizeof(int64_t)) : NULL;
                        int64_t *d = b ? realloc(w->thw, cap * sizeof(int64_t)) : NULL;
                        if (a)
                                w->pair = a;
                        if (b)
                                w->frz = b;
                        if (!d) {
                                snprintf(w->err, sizeof w->err, "out of memory");
                                atomic_store(&failed, true);
                                break;
                        }
                        w->thw = d;
                        w->cap = cap;
                }
                w->pair[w->n] = t2 - t0;
                w->frz[w->n] = t1 - t0;
                w->thw[w->n] = t2 - t1;
                w->n++;
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

static int cmd_nested(int clients, double duration) {
        worker *ws = calloc((size_t)clients, sizeof(*ws));
        if (!ws)
                return 1;
        run_ns = (int64_t)(duration * 1e9);
        pthread_barrier_init(&start_line, NULL, (unsigned)clients + 1);
        for (int i = 0; i < clients; i++) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 256 * 1024);
                if (pthread_create(&ws[i].tid, &attr, run_worker, &ws[i]) != 0) {
                        fprintf(stderr, "qzload: pthread_create failed\n");
                        return 1;
                }
                pthread_attr_destroy(&attr);
        }
        pthread_barrier_wait(&start_line);
        int64_t t0 = mono_ns();
        for (int i = 0; i < clients; i++)
                pthread_join(ws[i].tid, NULL);
        int64_t t1 = mono_ns();
        size_t total = 0;
        for (int i = 0; i < clients; i++) {
                total += ws[i].n;
                if (ws[i].err[0])
                        fprintf(stderr, "qzload: client %d: %s\n", i, ws[i].err);
        }
        int64_t *pair = malloc((total ? total : 1) * sizeof(int64_t));
        int64_t *frz = malloc((total ? total : 1) * sizeof(int64_t));
        int64_t *thw = malloc((total ? total : 1) * sizeof(int64_t));
        if (!pair || !frz || !thw)
                return 1;
        size_t k = 0;
        for (int i = 0; i < clients; i++) {
                memcpy(pair + k, ws[i].pair, ws[i].n * sizeof(int64_t));
                memcpy(frz + k, ws[i].frz, ws[i].n * sizeof(int64_t));
                memcpy(thw + k, ws[i].thw, ws[i].n * sizeof(int64_t));
                k += ws[i].n;
        }
        double secs = (double)(t1 - t0) / 1e9;
        printf("{\"clients\":%d,\"seconds\":%.3f,\"pairs\":%zu,\"pairs_per_s\":%.0f,\"requests_per_s\":%.0f,"
               "\"failed\":%s,",
               clients, secs, total, (double)total / secs, 2.0 * (double)total / secs,
               atomic_load(&failed) ? "true" : "false");
        print_dist("pair", pair, total, false);
        print_dist("freeze", frz, total, false);
        print_dist("thaw", thw, total, true);
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
                {"socket", required_argument, NULL, 's'},
                {"clients", required_argument, NULL, 'c'},
                {"duration", required_argument, NULL, 'd'},
                {"fds", no_argument, NULL, 'f'},
                {"count", required_argument, NULL, 'n'},
                {"connections", required_argument, NULL, 'C'},
                {NULL, 0, NULL, 0},
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
                default:
                        return 2;
                }
        }
        if (optind != argc - 1 || clients < 1 || conns < 1 || count < 1 || duration <= 0) {
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
