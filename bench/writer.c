/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c - the benchmark's application: writes 4 KiB blocks to one file as
 * fast as it can (buffered, or with fdatasync after every write), and records
 * every write's start time and latency (CLOCK_MONOTONIC, ns) in memory. At the
 * end (SIGTERM, SIGINT or --duration) it dumps them and prints a summary.
 *
 * Everything it writes besides FILE (records, buckets, summary, ready file)
 * must live on a filesystem that is never frozen: the harness puts them in
 * its temp dir on /. Until the end, nothing but write()/fdatasync() touches
 * FILE's filesystem; the dumps are only written after the stop signal.
 *
 * Usage: writer [options] FILE
 *   --fdatasync            fdatasync(FILE) after each write (one op = both)
 *   --block N              bytes per write (default 4096)
 *   --duration SEC         stop after SEC seconds (default: until SIGTERM/SIGINT)
 *   --max-mib N            wrap around to offset 0 after N MiB (default 2048):
 *                          the file never grows past it, later writes overwrite
 *   --prefill-mib N        readiness after N MiB were written since the start
 *   --prefill-dirty-mib N  readiness once /proc/meminfo Dirty >= N MiB
 *   --ready-file PATH      create PATH at readiness (also printed on stdout as
 *                          "READY <mono_ns> <bytes_written>")
 *   --rate-mibs N          at most N MiB/s (default: as fast as it can); with a
 *                          prefill, the prefill runs at full speed and the
 *                          rate applies from readiness on
 *   --raw PATH             all records, binary: pairs of int64 (start_ns, lat_ns)
 *   --csv PATH             all records as CSV: start_ns,lat_ns
 *   --buckets PATH         per --bucket-ms slot: slot_start_ns, count_ended and
 *                          max_lat_ended_ns (writes that ended in the slot),
 *                          max_waiting_ns (longest time any write had been
 *                          waiting by the slot's end: a stall draws a ramp)
 *   --bucket-ms N          bucket width (default 10)
 *   --windows PATH         read at the end: lines "NAME START_NS END_NS"; the
 *                          summary then has, per window, the writes that
 *                          overlap it: count, max (the longest stall), p50, p99
 *   --summary PATH         write the summary JSON there (default: stdout)
 *   --max-samples N        record capacity (default 64 Mi; reserved lazily)
 *
 * The summary is one JSON object: count, bytes, max_ns, p50_ns, p99_ns,
 * p999_ns, start_ns, end_ns, ready_ns, max_at_ns (start of the longest write)
 * and windows[].
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
        int64_t start_ns;
        int64_t lat_ns;
} rec;

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long parse_num(const char *opt, const char *s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0) {
                fprintf(stderr, "writer: invalid %s '%s'\n", opt, s);
                exit(2);
        }
        return v;
}

/* Dirty from /proc/meminfo, in KiB, or -1. */
static long long meminfo_dirty_kib(void) {
        FILE *f = fopen("/proc/meminfo", "re");
        if (!f)
                return -1;
        char line[256];
        long long v = -1;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "Dirty: %lld kB", &v) == 1)
                        break;
        }
        fclose(f);
        return v;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

/* Percentile q (0..1) of a sorted array, nearest rank. */
static int64_t pct(const int64_t *v, size_t n, double q) {
        if (n == 0)
                return 0;
        size_t k = (size_t)(q * (double)n);
        if (k >= n)
                k = n - 1;
        return v[k];
}

struct stats {
        size_t count;
        int64_t max, p50, p99, p999, max_at;
};

/* Stats of the records overlapping [a, b] (all when a > b is not used: pass
 * INT64_MIN/INT64_MAX). lat is scratch space of n entries. */
static struct stats window_stats(const rec *r, size_t n, int64_t a, int64_t b, int64_t *lat) {
        struct stats s = {0};
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                int64_t st = r[i].start_ns, en = r[i].start_ns + r[i].lat_ns;
                if (st > b || en < a)
                        continue;
                lat[m++] = r[i].lat_ns;
                if (r[i].lat_ns > s.max) {
                        s.max = r[i].lat_ns;
                        s.max_at = st;
                }
        }
        qsort(lat, m, sizeof(*lat), cmp_i64);
        s.count = m;
        s.p50 = pct(lat, m, 0.50);
        s.p99 = pct(lat, m, 0.99);
        s.p999 = pct(lat, m, 0.999);
        return s;
}

static FILE *open_out(const char *path) {
        FILE *f = fopen(path, "we");
        if (!f)
                fprintf(stderr, "writer: %s: %s\n", path, strerror(errno));
        return f;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"fdatasync", no_argument, NULL, 'F'},
                {"block", required_argument, NULL, 'B'},
                {"duration", required_argument, NULL, 'd'},
                {"max-mib", required_argument, NULL, 'M'},
                {"prefill-mib", required_argument, NULL, 'p'},
                {"prefill-dirty-mib", required_argument, NULL, 'D'},
                {"ready-file", required_argument, NULL, 'r'},
                {"rate-mibs", required_argument, NULL, 'R'},
                {"raw", required_argument, NULL, 'w'},
                {"csv", required_argument, NULL, 'c'},
                {"buckets", required_argument, NULL, 'b'},
                {"bucket-ms", required_argument, NULL, 'm'},
                {"windows", required_argument, NULL, 'W'},
                {"summary", required_argument, NULL, 's'},
                {"max-samples", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        bool do_fdatasync = false;
        long long block = 4096, duration_s = 0, max_mib = 2048, prefill_mib = -1, prefill_dirty_mib = -1;
        long long rate_mibs = 0, bucket_ms = 10, max_samples = 64LL << 20;
        const char *ready_file = NULL, *raw_path = NULL, *csv_path = NULL, *buckets_path = NULL;
        const char *windows_path = NULL, *summary_path = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'F':
                        do_fdatasync = true;
                        break;
                case 'B':
                        block = parse_num("--block", optarg);
                        break;
                case 'd':
                        duration_s = parse_num("--duration", optarg);
                        break;
                case 'M':
                        max_mib = parse_num("--max-mib", optarg);
                        break;
                case 'p':
                        prefill_mib = parse_num("--prefill-mib", optarg);
                        break;
                case 'D':
                        prefill_dirty_mib = parse_num("--prefill-dirty-mib", optarg);
                        break;
                case 'r':
                        ready_file = optarg;
                        break;
                case 'R':
                        rate_mibs = parse_num("--rate-mibs", optarg);
                        break;
                case 'w':
                        raw_path = optarg;
                        break;
                case 'c':
                        csv_path = optarg;
                        break;
                case 'b':
                        buckets_path = optarg;
                        break;
                case 'm':
                        bucket_ms = parse_num("--bucket-ms", optarg);
                        break;
                case 'W':
                        windows_path = optarg;
                        break;
                case 's':
                        summary_path = optarg;
                        break;
                case 'S':
                        max_samples = parse_num("--max-samples", optarg);
                        break;
                case 'h':
                        printf("usage: writer [--fdatasync] [--duration SEC] [--max-mib N] [--prefill-mib N "
                               "| "
                               "--prefill-dirty-mib N]\n"
                               "              [--ready-file PATH] [--rate-mibs N] [--raw PATH] [--csv PATH] "
                               "[--buckets PATH [--bucket-ms N]]\n"
                               "              [--windows PATH] [--summary PATH] [--max-samples N] FILE\n");
                        return 0;
                default:
                        return 2;
                }
        }
        if (optind != argc - 1 || block <= 0 || bucket_ms <= 0 || max_samples <= 0 || max_mib <= 0) {
                fprintf(stderr, "writer: usage: writer [options] FILE (--help)\n");
                return 2;
        }
        const char *file = argv[optind];

        size_t cap = (size_t)max_samples;
        rec *recs = mmap(NULL, cap * sizeof(rec), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (recs == MAP_FAILED) {
                fprintf(stderr, "writer: cannot reserve %zu records: %s\n", cap, strerror(errno));
                return 1;
        }
        char *buf = aligned_alloc(4096, ((size_t)block + 4095) / 4096 * 4096);
        if (!buf)
                return 1;
        for (long long i = 0; i < block; i++)
                buf[i] = (char)('a' + (i * 7 + i / 4096) % 26);

        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "writer: %s: %s\n", file, strerror(errno));
                return 1;
        }

        const int64_t t_start = mono_ns();
        const int64_t t_end = duration_s > 0 ? t_start + duration_s * 1000000000LL : INT64_MAX;
        const long long wrap = max_mib << 20;
        long long off = 0, written = 0;
        int64_t ready_ns = -1, pace_ns = -1;
        long long pace_bytes = 0;
        bool want_ready = prefill_mib >= 0 || prefill_dirty_mib >= 0;
        size_t n = 0;
        bool overflow = false;
        int werr = 0;

        while (!stop) {
                int64_t t0 = mono_ns();
                if (t0 >= t_end)
                        break;
                ssize_t w = pwrite(fd, buf, (size_t)block, off);
                if (w == (ssize_t)block && do_fdatasync && fdatasync(fd) < 0)
                        w = -1;
                int64_t t1 = mono_ns();
                if (w != (ssize_t)block) {
                        if (w < 0 && errno == EINTR)
                                continue;
                        werr = w < 0 ? errno : EIO;
                        break;
                }
                if (n < cap)
                        recs[n++] = (rec){t0, t1 - t0};
                else
                        overflow = true;
                written += block;
                off += block;
                if (off + block > wrap)
                        off = 0;

                if (want_ready && ready_ns < 0) {
                        bool ready = false;
                        if (prefill_mib >= 0 && written >= (prefill_mib << 20))
                                ready = true;
                        if (prefill_dirty_mib >= 0 && written % (16 << 20) == 0 &&
                            meminfo_dirty_kib() >= prefill_dirty_mib * 1024)
                                ready = true;
                        if (ready) {
                                ready_ns = mono_ns();
                                printf("READY %" PRId64 " %lld\n", ready_ns, written);
                                fflush(stdout);
                                if (ready_file) {
                                        int rfd = open(ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                                        if (rfd >= 0)
                                                close(rfd);
                                }
                        }
                }
                if (rate_mibs > 0 && (!want_ready || ready_ns >= 0)) {
                        /* Pace: the bytes written since the start (or since readiness,
                         * after a prefill at full speed) may not be ahead of the rate. */
                        if (pace_ns < 0) {
                                pace_ns = mono_ns();
                                pace_bytes = written;
                        }
                        int64_t due = pace_ns + (int64_t)((double)(written - pace_bytes) /
                                                          (double)(rate_mibs << 20) * 1e9);
                        int64_t now = mono_ns();
                        if (due > now) {
                                struct timespec ts = {(time_t)((due - now) / 1000000000LL),
                                                      (long)((due - now) % 1000000000LL)};
                                nanosleep(&ts, NULL);
                        }
                }
        }
        const int64_t t_stop = mono_ns();
        close(fd);
        if (werr)
                fprintf(stderr, "writer: write to %s failed: %s\n", file, strerror(werr));
        if (overflow)
                fprintf(stderr, "writer: more than %zu writes, the later ones were not recorded\n", cap);

        /* ---- dumps (after the stop: they may be large) ---- */
        if (raw_path) {
                FILE *f = open_out(raw_path);
                if (f) {
                        fwrite(recs, sizeof(rec), n, f);
                        fclose(f);
                }
        }
        if (csv_path) {
                FILE *f = open_out(csv_path);
                if (f) {
                        fprintf(f, "start_ns,lat_ns\n");
                        for (size_t i = 0; i < n; i++)
                                fprintf(f, "%" PRId64 ",%" PRId64 "\n", recs[i].start_ns, recs[i].lat_ns);
                        fclose(f);
                }
        }
        if (buckets_path && n > 0) {
                FILE *f = open_out(buckets_path);
                if (f) {
                        int64_t width = bucket_ms * 1000000LL;
                        int64_t base = recs[0].start_ns;
                        size_t nb = (size_t)((recs[n - 1].start_ns - base) / width) + 1;
                        int64_t *mx = calloc(nb, sizeof(*mx));
                        int64_t *wait = calloc(nb, sizeof(*wait));
                        size_t *cnt = calloc(nb, sizeof(*cnt));
                        if (mx && wait && cnt) {
                                for (size_t i = 0; i < n; i++) {
                                        int64_t st = recs[i].start_ns, en = st + recs[i].lat_ns;
                                        /* ended: the write counts in the slot where it ended,
                                         * its height the whole latency */
                                        size_t k = (size_t)((en - base) / width);
                                        if (k >= nb)
                                                k = nb - 1;
                                        cnt[k]++;
                                        if (recs[i].lat_ns > mx[k])
                                                mx[k] = recs[i].lat_ns;
                                        /* waiting: in every slot it spans, how long it had
                                         * been waiting by the slot's end (a stall is a ramp) */
                                        for (size_t j = (size_t)((st - base) / width); j <= k; j++) {
                                                int64_t se = base + (int64_t)(j + 1) * width;
                                                int64_t v = (se < en ? se : en) - st;
                                                if (v > wait[j])
                                                        wait[j] = v;
                                        }
                                }
                                fprintf(f, "slot_start_ns,count_ended,max_lat_ended_ns,max_waiting_ns\n");
                                for (size_t k = 0; k < nb; k++)
                                        fprintf(f, "%" PRId64 ",%zu,%" PRId64 ",%" PRId64 "\n",
                                                base + (int64_t)k * width, cnt[k], mx[k], wait[k]);
                        }
                        free(wait);
                        free(mx);
                        free(cnt);
                        fclose(f);
                }
        }

        int64_t *scratch = malloc((n ? n : 1) * sizeof(int64_t));
        if (!scratch)
                return 1;
        FILE *out = summary_path ? open_out(summary_path) : stdout;
        if (!out)
                out = stdout;
        struct stats all = window_stats(recs, n, INT64_MIN, INT64_MAX, scratch);
        fprintf(out,
                "{\"file\":\"%s\",\"fdatasync\":%s,\"block\":%lld,\"count\":%zu,\"bytes\":%lld,\"start_ns\":"
                "%" PRId64 ",\"end_ns\":%" PRId64 ",\"ready_ns\":%" PRId64 ",\"max_ns\":%" PRId64
                ",\"max_at_ns\":%" PRId64 ",\"p50_ns\":%" PRId64 ",\"p99_ns\":%" PRId64
                ",\"p999_ns\":%" PRId64 ",\"overflow\":%s,\"error\":%s%s%s,\"windows\":[",
                file, do_fdatasync ? "true" : "false", block, all.count, written, t_start, t_stop, ready_ns,
                all.max, all.max_at, all.p50, all.p99, all.p999, overflow ? "true" : "false",
                werr ? "\"" : "", werr ? strerror(werr) : "null", werr ? "\"" : "");
        if (windows_path) {
                FILE *wf = fopen(windows_path, "re");
                if (!wf) {
                        fprintf(stderr, "writer: %s: %s\n", windows_path, strerror(errno));
                } else {
                        char name[128];
                        long long a, b;
                        bool first = true;
                        while (fscanf(wf, "%127s %lld %lld", name, &a, &b) == 3) {
                                struct stats s = window_stats(recs, n, a, b, scratch);
                                fprintf(out,
                                        "%s{\"name\":\"%s\",\"start_ns\":%lld,\"end_ns\":%lld,\"count\":%zu,"
                                        "\"max_ns\":%" PRId64 ",\"max_at_ns\":%" PRId64 ",\"p50_ns\":%" PRId64
                                        ",\"p99_ns\":%" PRId64 "}",
                                        first ? "" : ",", name, a, b, s.count, s.max, s.max_at, s.p50, s.p99);
                                first = false;
                        }
                        fclose(wf);
                }
        }
        fprintf(out, "]}\n");
        if (out != stdout)
                fclose(out);
        free(scratch);
        return werr ? 1 : 0;
}
