/* SPDX-License-Identifier: GPL-2.0-or-later */
/* preflush.c - one "pre-flush, FIFREEZE, copy, FITHAW" cycle with a chosen
 * pre-flush strategy, every phase timed (CLOCK_MONOTONIC ns, printed as one
 * JSON object). Only bench/experiments/preflush-exp runs it, after its
 * safety check that MNT is a loop filesystem of its own.
 *
 *   preflush [options] MNT [-- COPY-COMMAND...]
 *
 * Pre-flush steps, in this order (each optional):
 *   --bdi MAJ:MIN          the filesystem's bdi (/sys/class/bdi/MAJ:MIN): with
 *   --bdi-max-bytes N      max_bytes=N and strict_limit=1 during the pre-flush
 *                          (restored after FIFREEZE; also on every exit path)
 *   --bdi-max-bytes -2     strict_limit=1 only, max_bytes left as it is
 *   --bdi-ramp             instead of a fixed N: every 20 ms set max_bytes to
 *                          --ramp-factor (1.02) times what the bdi has dirty
 *                          (debugfs bdi stats; global Dirty without them),
 *                          never below N: the writer is slowed, not stopped
 *   --ramp-global          the ramp follows global Dirty (/proc/meminfo), as a
 *                          daemon would without debugfs
 *   --ramp-factor F        (default 1.02)
 *   --wbt-off MAJ:MIN      writeback throttling off on that block device
 *                          (queue/wbt_lat_usec=0) during the pre-flush
 *   --vm-bg-bytes N        vm.dirty_background_bytes=N during the pre-flush
 *                          (global! restored after FIFREEZE)
 *   --fadvise FILE         posix_fadvise(DONTNEED) on FILE (starts writeback)
 *   --sfr FILE             sync_file_range(FILE, SYNC_FILE_RANGE_WRITE) (async)
 *   --sfr-wait FILE        sync_file_range(FILE, WAIT_BEFORE|WRITE|WAIT_AFTER)
 *   --wait-dirty N         poll the bdi's dirty+writeback (debugfs) every 10 ms
 *                          until it is <= N bytes (at most 60 s)
 *   --syncfs N             N rounds of syncfs(MNT) (default 1)
 *   --backing FILE         fdatasync(FILE) after the syncfs rounds: the loop
 *                          device's image on the pool, so the reflink copy
 *                          finds little dirty in the pool's page cache
 *   --no-freeze            stop after the pre-flush (e.g. "sync -f" alone)
 *   --hold-ms N            stay frozen N ms after the copy (default 0)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char bdi_dir[128];
/* max_bytes reads back as bytes derived from the ratio at this moment, and
 * writing it stores a ratio derived from the dirty threshold at that moment:
 * saving and restoring it drifts (a later run saw 0.7 %). The exact setting
 * is max_ratio_fine (millionths), saved and restored as it is. */
static char old_ratio_fine[64], old_strict[16], old_bg_bytes[64], old_bg_ratio[16];
static bool bdi_set, vm_set, wbt_set;
static char wbt_path[128], old_wbt[32];
static int mnt_fd = -1;
static bool frozen;

static int read_str(const char *path, char *buf, size_t n) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t r = read(fd, buf, n - 1);
        close(fd);
        if (r < 0)
                return -1;
        buf[r] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static int write_str(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t r = write(fd, s, strlen(s));
        int e = errno;
        close(fd);
        errno = e;
        return r < 0 ? -1 : 0;
}

static void bdi_file(char *out, size_t n, const char *name) {
        snprintf(out, n, "%s/%s", bdi_dir, name);
}

static void restore(void) {
        char p[192];
        if (wbt_set) {
                write_str(wbt_path, old_wbt);
                wbt_set = false;
        }
        if (bdi_set) {
                bdi_file(p, sizeof p, "strict_limit");
                write_str(p, old_strict);
                bdi_file(p, sizeof p, "max_ratio_fine");
                write_str(p, old_ratio_fine);
                bdi_set = false;
        }
        if (vm_set) {
                /* writing one of bytes/ratio zeroes the other: restore the one that was set */
                if (strcmp(old_bg_bytes, "0") != 0)
                        write_str("/proc/sys/vm/dirty_background_bytes", old_bg_bytes);
                else
                        write_str("/proc/sys/vm/dirty_background_ratio", old_bg_ratio);
                vm_set = false;
        }
}

static void on_fatal(int sig) {
        int unused = 0;
        if (frozen && mnt_fd >= 0)
                ioctl(mnt_fd, FITHAW, &unused);
        restore();
        signal(sig, SIG_DFL);
        raise(sig);
}

/* Dirty + Writeback from /proc/meminfo (KiB); the global picture. */
static long long meminfo_kib(const char *key) {
        FILE *f = fopen("/proc/meminfo", "re");
        if (!f)
                return -1;
        char line[256];
        long long v = -1;
        size_t kl = strlen(key);
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        v = strtoll(line + kl + 1, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return v;
}

struct ramp {
        long long target;
        volatile bool stop;
        pthread_t tid;
};

/* The bdi's dirty + writeback bytes from debugfs (what balance_dirty_pages
 * compares with the bdi's limit), or -1 when debugfs is not mounted. */
static long long bdi_dirty_bytes(const char *dev) {
        char path[128], line[256];
        snprintf(path, sizeof path, "/sys/kernel/debug/bdi/%s/stats", dev);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        long long wb = -1, rc = -1, v;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "BdiWriteback: %lld kB", &v) == 1)
                        wb = v;
                else if (sscanf(line, "BdiReclaimable: %lld kB", &v) == 1)
                        rc = v;
        }
        fclose(f);
        return wb < 0 || rc < 0 ? -1 : (wb + rc) * 1024;
}

static const char *ramp_dev;
static bool ramp_global;
static double ramp_factor = 1.02;

/* Every 20 ms: max_bytes = max(target, factor * what the bdi has dirty now)
 * (global Dirty without debugfs). Just above the current amount, the kernel
 * throttles the writer hard (pos_ratio near 0) but never stops it outright,
 * and as writeback drains the bdi the limit follows it down. */
static void *ramp_thread(void *arg) {
        struct ramp *r = arg;
        char p[192], v[64];
        bdi_file(p, sizeof p, "max_bytes");
        while (!r->stop) {
                long long dirty = ramp_global ? -1 : bdi_dirty_bytes(ramp_dev);
                if (dirty < 0)
                        dirty = meminfo_kib("Dirty") * 1024;
                long long want = (long long)((double)dirty * ramp_factor);
                if (want < r->target)
                        want = r->target;
                snprintf(v, sizeof v, "%lld", want);
                write_str(p, v);
                usleep(20000);
        }
        return NULL;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"bdi", required_argument, NULL, 'b'},        {"bdi-max-bytes", required_argument, NULL, 'm'},
                {"bdi-ramp", no_argument, NULL, 'r'},         {"vm-bg-bytes", required_argument, NULL, 'v'},
                {"fadvise", required_argument, NULL, 'a'},    {"sfr", required_argument, NULL, 's'},
                {"sfr-wait", required_argument, NULL, 'S'},   {"syncfs", required_argument, NULL, 'n'},
                {"backing", required_argument, NULL, 'k'},    {"no-freeze", no_argument, NULL, 'N'},
                {"hold-ms", required_argument, NULL, 'h'},    {"ramp-factor", required_argument, NULL, 'f'},
                {"wait-dirty", required_argument, NULL, 'w'}, {"ramp-global", no_argument, NULL, 'g'},
                {"wbt-off", required_argument, NULL, 'W'},    {NULL, 0, NULL, 0},
        };
        const char *bdi = NULL, *fadv = NULL, *sfr = NULL, *sfr_wait = NULL, *backing = NULL;
        long long bdi_max = -1, vm_bg = -1, hold_ms = 0, wait_dirty = -1;
        int rounds = 1, c;
        bool ramp = false, no_freeze = false;
        while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
                switch (c) {
                case 'b':
                        bdi = optarg;
                        break;
                case 'm':
                        bdi_max = atoll(optarg);
                        break;
                case 'r':
                        ramp = true;
                        break;
                case 'v':
                        vm_bg = atoll(optarg);
                        break;
                case 'a':
                        fadv = optarg;
                        break;
                case 's':
                        sfr = optarg;
                        break;
                case 'S':
                        sfr_wait = optarg;
                        break;
                case 'n':
                        rounds = atoi(optarg);
                        break;
                case 'k':
                        backing = optarg;
                        break;
                case 'N':
                        no_freeze = true;
                        break;
                case 'h':
                        hold_ms = atoll(optarg);
                        break;
                case 'f':
                        ramp_factor = atof(optarg);
                        break;
                case 'w':
                        wait_dirty = atoll(optarg);
                        break;
                case 'g':
                        ramp_global = true;
                        break;
                case 'W':
                        snprintf(wbt_path, sizeof wbt_path, "/sys/dev/block/%s/queue/wbt_lat_usec", optarg);
                        break;
                default:
                        return 2;
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "usage: preflush [options] MNT [-- COPY-COMMAND...]\n");
                return 2;
        }
        const char *mnt = argv[optind++];
        char **copy = NULL;
        if (optind < argc && strcmp(argv[optind], "--") == 0)
                optind++;
        if (optind < argc)
                copy = argv + optind;

        mnt_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (mnt_fd < 0) {
                fprintf(stderr, "preflush: %s: %s\n", mnt, strerror(errno));
                return 1;
        }
        struct sigaction sa = {.sa_handler = on_fatal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);

        int64_t t_start = mono_ns();
        long long dirty0 = meminfo_kib("Dirty");
        char p[192], v[64];
        struct ramp rp = {0};
        if (bdi && bdi_max == -2) {
                /* strict_limit alone: the bdi's own share of the dirty limits applies */
                snprintf(bdi_dir, sizeof bdi_dir, "/sys/class/bdi/%s", bdi);
                bdi_file(p, sizeof p, "max_ratio_fine");
                read_str(p, old_ratio_fine, sizeof old_ratio_fine);
                bdi_file(p, sizeof p, "strict_limit");
                read_str(p, old_strict, sizeof old_strict);
                bdi_set = true;
                write_str(p, "1");
        }
        if (bdi && bdi_max >= 0) {
                snprintf(bdi_dir, sizeof bdi_dir, "/sys/class/bdi/%s", bdi);
                bdi_file(p, sizeof p, "max_ratio_fine");
                if (read_str(p, old_ratio_fine, sizeof old_ratio_fine) < 0) {
                        fprintf(stderr, "preflush: %s: %s\n", p, strerror(errno));
                        return 1;
                }
                bdi_file(p, sizeof p, "strict_limit");
                read_str(p, old_strict, sizeof old_strict);
                bdi_set = true;
                write_str(p, "1");
                bdi_file(p, sizeof p, "max_bytes");
                if (ramp) {
                        ramp_dev = bdi;
                        long long d = ramp_global ? -1 : bdi_dirty_bytes(bdi);
                        snprintf(v, sizeof v, "%lld",
                                 d >= 0 ? (long long)((double)d * ramp_factor) : dirty0 * 1024);
                        write_str(p, v);
                        rp.target = bdi_max;
                        pthread_create(&rp.tid, NULL, ramp_thread, &rp);
                } else {
                        snprintf(v, sizeof v, "%lld", bdi_max);
                        if (write_str(p, v) < 0)
                                fprintf(stderr, "preflush: %s=%s: %s\n", p, v, strerror(errno));
                }
        }
        if (wbt_path[0]) {
                if (read_str(wbt_path, old_wbt, sizeof old_wbt) < 0 || write_str(wbt_path, "0") < 0)
                        fprintf(stderr, "preflush: %s: %s\n", wbt_path, strerror(errno));
                else
                        wbt_set = true;
        }
        if (vm_bg >= 0) {
                read_str("/proc/sys/vm/dirty_background_bytes", old_bg_bytes, sizeof old_bg_bytes);
                read_str("/proc/sys/vm/dirty_background_ratio", old_bg_ratio, sizeof old_bg_ratio);
                vm_set = true;
                snprintf(v, sizeof v, "%lld", vm_bg);
                write_str("/proc/sys/vm/dirty_background_bytes", v);
        }
        if (fadv) {
                int fd = open(fadv, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                        close(fd);
                }
        }
        if (sfr || sfr_wait) {
                int fd = open(sfr ? sfr : sfr_wait, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        unsigned fl = sfr ? SYNC_FILE_RANGE_WRITE
                                          : SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                      SYNC_FILE_RANGE_WAIT_AFTER;
                        if (sync_file_range(fd, 0, 0, fl) < 0)
                                fprintf(stderr, "preflush: sync_file_range: %s\n", strerror(errno));
                        close(fd);
                }
        }
        if (wait_dirty >= 0 && bdi) {
                /* let writeback (and the ramp) drain the bdi down to N bytes, at most 60 s */
                int64_t until = mono_ns() + 60000000000LL;
                while (mono_ns() < until) {
                        long long d = bdi_dirty_bytes(bdi);
                        if (d < 0 || d <= wait_dirty)
                                break;
                        usleep(10000);
                }
        }
        int64_t t_async = mono_ns();
        printf("{\"start_ns\":%" PRId64 ",\"dirty0_kib\":%lld,\"async_done_ns\":%" PRId64 ",\"syncfs_ns\":[",
               t_start, dirty0, t_async);
        for (int i = 0; i < rounds; i++) {
                syncfs(mnt_fd);
                printf("%s%" PRId64, i ? "," : "", mono_ns());
        }
        printf("]");
        if (backing) {
                int fd = open(backing, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        fdatasync(fd);
                        close(fd);
                }
                printf(",\"backing_ns\":%" PRId64, mono_ns());
        }
        if (ramp) {
                rp.stop = true;
                pthread_join(rp.tid, NULL);
        }
        long long dirty1 = meminfo_kib("Dirty");
        int64_t t_pre = mono_ns();
        printf(",\"preflush_done_ns\":%" PRId64 ",\"dirty1_kib\":%lld", t_pre, dirty1);
        int rc = 0;
        if (!no_freeze) {
                int unused = 0;
                frozen = true;
                int r = ioctl(mnt_fd, FIFREEZE, &unused);
                int64_t t_frozen = mono_ns();
                if (r < 0) {
                        frozen = false;
                        fprintf(stderr, "preflush: FIFREEZE: %s\n", strerror(errno));
                        rc = 1;
                }
                restore();
                printf(",\"frozen_ns\":%" PRId64, t_frozen);
                if (frozen && copy) {
                        pid_t pid = fork();
                        if (pid == 0) {
                                execvp(copy[0], copy);
                                _exit(127);
                        }
                        int st = 0;
                        if (pid > 0)
                                waitpid(pid, &st, 0);
                        if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                                fprintf(stderr, "preflush: the copy failed\n");
                                rc = 1;
                        }
                        printf(",\"copied_ns\":%" PRId64, mono_ns());
                }
                if (frozen && hold_ms > 0)
                        usleep((useconds_t)hold_ms * 1000);
                if (frozen) {
                        if (ioctl(mnt_fd, FITHAW, &unused) < 0) {
                                fprintf(stderr, "preflush: FITHAW: %s\n", strerror(errno));
                                rc = 1;
                        }
                        frozen = false;
                }
                printf(",\"thawed_ns\":%" PRId64, mono_ns());
        }
        restore();
        printf("}\n");
        return rc;
}
