/* SPDX-License-Identifier: GPL-2.0-or-later */
/* demo.c - `quiesce demo`: nested and timed freezes, then the whole backup
 * workflow on a pool (XFS loop image) holding an ext4 data image: a writer,
 * a reflink snapshot through quiesce, a backup, and the proof (fsck clean,
 * every acknowledged file in the archive with its SHA-256); all of it in a
 * temporary directory undone on every exit path.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"
#include "snapshot.h"
#include "sysfs.h"

#define POOL_SIZE (320ULL << 20) /* xfsprogs refuses XFS under 300 MiB */
#define DATA_SIZE (192ULL << 20)
#define WRITER_MAX_BYTES (64ULL << 20)
#define WRITER_MAX_FILES 4000
#define DAEMON_MAX_FROZEN "20s"
#define SNAPSHOT_TIMEOUT "5s"

struct demo {
        bool tty, use_running;
        char *self; /* this quiesce binary */
        char *quiesced;
        char tmp[64]; /* /tmp/quiesce-demo.XXXXXX */
        char pool[128], data[128], store[128], hooks[128], sock[128], pool_img[128], archive[128];
        char data_img[256];
        char pool_dev[32], data_dev[32];
        const char *socket; /* the socket used (ours or the running daemon's) */
        qz_client *c;
        int64_t t0;
};

static struct demo D;

/* ---- output ---- */

static void act(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void act(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs(D.tty ? "\n\033[1m== " : "\n== ", stdout);
        vprintf(fmt, ap);
        fputs(D.tty ? "\033[0m\n" : "\n", stdout);
        va_end(ap);
        fflush(stdout);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("   ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
        fflush(stdout);
}

static void indent(const char *text) {
        const char *p = text;
        while (p && *p) {
                const char *nl = strchr(p, '\n');
                int n = nl ? (int)(nl - p) : (int)strlen(p);
                printf("     %.*s\n", n, p);
                p = nl ? nl + 1 : NULL;
        }
        fflush(stdout);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("quiesce: demo: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return -1;
}

static void sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bk_interrupted())
                ;
}

/* ---- commands ---- */

/* Runs argv, output (stdout+stderr) into *out (malloc'd, may be NULL).
 * Shows the command when show. The exit status, or -errno. */
static int run(char *const *argv, char **out, bool show) {
        if (show) {
                size_t n = 0;
                while (argv[n])
                        n++;
                char *line = cli_join(argv, n, " ");
                say("$ %s", line);
                free(line);
        }
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                bk_cleanup_child_signals();
                dup2(p[1], STDOUT_FILENO);
                dup2(p[1], STDERR_FILENO);
                int nul = open("/dev/null", O_RDONLY);
                if (nul >= 0)
                        dup2(nul, STDIN_FILENO);
                execvp(argv[0], argv);
                fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        int h = bk_cleanup_push(BK_CHILD, NULL, pid);
        close(p[1]);
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);
        if (!buf)
                abort();
        for (;;) {
                if (len + 1024 > cap && !(buf = realloc(buf, cap *= 2)))
                        abort();
                ssize_t n = read(p[0], buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR) {
                        if (bk_interrupted())
                                break;
                        continue;
                }
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        close(p[0]);
        int st = -EINTR;
        if (!bk_interrupted()) {
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR && !bk_interrupted())
                        ;
                bk_cleanup_pop(h, false);
        }
        if (out)
                *out = buf;
        else
                free(buf);
        if (bk_interrupted())
                return -EINTR;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_ok(char *const *argv, bool show) {
        char *out = NULL;
        int r = run(argv, &out, show);
        if (r != 0 && !bk_interrupted()) {
                fail("%s failed (%d):", argv[0], r);
                indent(out);
        }
        free(out);
        return r == 0 ? 0 : -1;
}

static int make_image(const char *path, uint64_t size) {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
                fail("%s: %m", path);
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

/* Loop device (read-write, autoclear) and mount; registered for cleanup. */
static int attach_and_mount(const char *img, const char *dir, const char *fstype, char *dev, size_t devlen) {
        int b = open(img, O_RDWR | O_CLOEXEC);
        if (b < 0)
                return fail("%s: %m", img);
        int lfd = bk_loop_attach(b, false, dev, devlen);
        close(b);
        if (lfd < 0)
                return fail("%s: cannot attach a loop device: %s", img, strerror(-lfd));
        bk_cleanup_push(BK_LOOP, dev, 0);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                close(lfd);
                return fail("%s: %m", dir);
        }
        int r = mount(dev, dir, fstype, 0, NULL);
        int e = errno;
        close(lfd);
        if (r < 0)
                return fail("cannot mount %s (%s) on %s: %s", dev, fstype, dir, strerror(e));
        bk_cleanup_push(BK_MOUNT, dir, 0);
        return 0;
}

/* ---- the daemon ---- */

static char *find_quiesced(void) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                char *dir = dirname(self);
                const char *rel[] = {"/../daemon/quiesced", "/quiesced", "/../sbin/quiesced"};
                for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
                        char *p;
                        if (asprintf(&p, "%s%s", dir, rel[i]) < 0)
                                abort();
                        if (access(p, X_OK) == 0)
                                return p;
                        free(p);
                }
        }
        const char *fixed[] = {"/usr/sbin/quiesced", "/usr/local/sbin/quiesced", "/usr/bin/quiesced"};
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                if (access(fixed[i], X_OK) == 0)
                        return strdup(fixed[i]);
        return NULL;
}

static int start_daemon(void) {
        char log[PATH_MAX];
        snprintf(log, sizeof(log), "%s/quiesced.log", D.tmp);
        say("$ quiesced --socket %s --max-frozen %s &", D.sock, DAEMON_MAX_FROZEN);
        pid_t pid = fork();
        if (pid < 0)
                return fail("fork: %m");
        if (pid == 0) {
                bk_cleanup_child_signals();
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                setpgid(0, 0); /* Ctrl-C is ours to handle: we stop it after thawing */
                execl(D.quiesced, "quiesced", "--socket", D.sock, "--max-frozen", DAEMON_MAX_FROZEN,
                      (char *)NULL);
                _exit(127);
        }
        bk_cleanup_push(BK_CHILD, NULL, pid);
        for (int i = 0; i < 100 && !bk_interrupted(); i++) {
                if (qz_client_open(D.sock, &D.c) == 0)
                        return 0;
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        return fail("quiesced exited at start (see %s)", log);
                sleep_ms(50);
        }
        return fail("quiesced did not answer on %s", D.sock);
}

/* ---- writers ---- */

/* A small writer for act 1: creates, writes and fsyncs one file. */
static pid_t spawn_probe(const char *name) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", D.data, name);
        pid_t pid = fork();
        if (pid == 0) {
                bk_cleanup_child_signals();
                int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
                if (fd < 0 || write(fd, "hello from the demo\n", 20) != 20 || fsync(fd) < 0)
                        _exit(1);
                _exit(0);
        }
        if (pid > 0) {
                bk_cleanup_push(BK_CHILD, NULL, pid);
                bk_cleanup_push(BK_THAW, D.data, 0); /* undone first: thaw, then kill */
        }
        return pid;
}

static bool blocked_on_freeze(pid_t pid) {
        char p[64], buf[256] = "";
        snprintf(p, sizeof(p), "/proc/%d/wchan", pid);
        if (qz_read_text_at(AT_FDCWD, p, buf, sizeof(buf)) < 0)
                buf[0] = '\0';
        return strstr(buf, "percpu_rwsem") || strstr(buf, "sb_start") || strstr(buf, "freeze");
}

/* 1 finished, 0 still running after ms. */
static int wait_done(pid_t pid, long ms) {
        for (long i = 0; i <= ms / 20; i++) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        return 1;
                if (bk_interrupted())
                        return 0;
                sleep_ms(20);
        }
        return 0;
}

/* The demo's files: size and content follow from the index alone. */
static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static size_t file_content(unsigned i, uint8_t **ret) {
        uint64_t s = 0x9e3779b97f4a7c15ULL * (i + 1);
        size_t size = 4096 + (size_t)(rng_next(&s) % 16) * 4096 + (size_t)(rng_next(&s) % 4096);
        uint8_t *b = malloc(size + 8);
        if (!b)
                abort();
        for (size_t k = 0; k < size; k += 8) {
                uint64_t v = rng_next(&s);
                memcpy(b + k, &v, 8);
        }
        *ret = b;
        return size;
}

static void file_sha(unsigned i, char hex[65]) {
        uint8_t *b, d[32];
        size_t n = file_content(i, &b);
        struct bk_sha256 s;
        bk_sha256_init(&s);
        bk_sha256_update(&s, b, n);
        bk_sha256_final(&s, d);
        bk_sha256_hex(d, hex);
        free(b);
}

/* Writes w/NNNNN.dat one after another: write, fsync the file and the
 * directory, then acknowledge the index on fd ack. */
static void writer_main(int ack) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/w", D.data);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd < 0)
                _exit(1);
        uint64_t total = 0;
        for (unsigned i = 0; i < WRITER_MAX_FILES && total < WRITER_MAX_BYTES; i++) {
                uint8_t *b;
                size_t n = file_content(i, &b);
                char name[32];
                snprintf(name, sizeof(name), "%05u.dat", i);
                int fd = openat(dfd, name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
                if (fd < 0 || write(fd, b, n) != (ssize_t)n || fsync(fd) < 0 || fsync(dfd) < 0)
                        _exit(2);
                close(fd);
                free(b);
                total += n;
                dprintf(ack, "%u\n", i);
                usleep(2000);
        }
        pause();
        _exit(0);
}

struct writer {
        pid_t pid;
        int ack;
        char buf[64];
        size_t len;
        long acked; /* highest acknowledged index, -1 none */
};

static int writer_start(struct writer *w) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/w", D.data);
        if (mkdir(dir, 0755) < 0)
                return fail("%s: %m", dir);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return fail("pipe: %m");
        w->pid = fork();
        if (w->pid < 0)
                return fail("fork: %m");
        if (w->pid == 0) {
                bk_cleanup_child_signals();
                close(p[0]);
                writer_main(p[1]);
        }
        close(p[1]);
        w->ack = p[0];
        w->acked = -1;
        fcntl(w->ack, F_SETFL, O_NONBLOCK);
        bk_cleanup_push(BK_CHILD, NULL, w->pid);
        bk_cleanup_push(BK_THAW, D.data, 0);
        return 0;
}

/* Reads every acknowledgement that has arrived. */
static void writer_drain(struct writer *w) {
        for (;;) {
                ssize_t n = read(w->ack, w->buf + w->len, sizeof(w->buf) - w->len - 1);
                if (n <= 0)
                        return;
                w->len += (size_t)n;
                w->buf[w->len] = '\0';
                char *nl;
                while ((nl = strchr(w->buf, '\n'))) {
                        *nl = '\0';
                        w->acked = strtol(w->buf, NULL, 10);
                        size_t rest = w->len - (size_t)(nl + 1 - w->buf);
                        memmove(w->buf, nl + 1, rest);
                        w->len = rest;
                        w->buf[w->len] = '\0';
                }
        }
}

/* ---- act 1: nested and timed freezes ---- */

static int act_nested(void) {
        act("1. Nested freezes: two holds on %s, one thaw each", D.data);
        const char *paths[] = {D.data};
        qz_hold *a, *b;
        int r = qz_client_freeze(D.c, paths, 1, 20000, QZ_FREEZE_DETACHED, &a);
        if (r < 0)
                return fail("freeze: %s", qz_client_error(D.c));
        say("first freeze: hold %" PRIu64 " (FIFREEZE: the filesystem is frozen; stall %" PRId64 " ms)",
            a->id, a->fs[0].stall_ms);
        r = qz_client_freeze(D.c, paths, 1, 20000, QZ_FREEZE_DETACHED, &b);
        if (r < 0)
                return fail("freeze: %s", qz_client_error(D.c));
        say("second freeze: hold %" PRIu64 " (only counted; the kernel alone would answer EBUSY)", b->id);
        pid_t w = spawn_probe("hello.txt");
        if (wait_done(w, 500) || !blocked_on_freeze(w))
                return fail("the writer was not blocked by the freeze");
        say("a writer (pid %d) is blocked in the kernel on the frozen filesystem", w);
        qz_client_thaw_hold(D.c, a->id);
        say("thaw of hold %" PRIu64 ": one hold left, still frozen", a->id);
        if (wait_done(w, 500))
                return fail("one thaw of two let the writer through");
        say("the writer is still blocked");
        qz_client_thaw_hold(D.c, b->id);
        if (!wait_done(w, 5000))
                return fail("the writer is still blocked after the last thaw");
        say("thaw of hold %" PRIu64 ": the last hold, FITHAW; the writer finished", b->id);
        qz_hold_free(a);
        qz_hold_free(b);

        act("2. A freeze with a 2 s deadline that nobody thaws");
        int64_t t = qz_now_ms();
        r = qz_client_freeze(D.c, paths, 1, 2000, QZ_FREEZE_DETACHED, &a);
        if (r < 0)
                return fail("freeze: %s", qz_client_error(D.c));
        say("hold %" PRIu64 " taken with --timeout 2s; a writer tries again", a->id);
        w = spawn_probe("after.txt");
        if (wait_done(w, 500))
                return fail("the writer was not blocked");
        if (!wait_done(w, 8000))
                return fail("the deadline did not thaw the filesystem");
        say("the deadline thawed it by itself: the writer finished %.1f s after the freeze",
            (double)(qz_now_ms() - t) / 1000.0);
        qz_hold_free(a);
        return bk_interrupted() ? -1 : 0;
}

/* ---- verification ---- */

struct verify {
        long acked;           /* files acknowledged before the freeze: 0..acked */
        unsigned in_archive;  /* w/ files in the archive */
        unsigned acked_ok;    /* of 0..acked: present with the right SHA-256 */
        unsigned acked_bad;   /* present with another content */
        unsigned later_ok;    /* beyond acked, in the archive and complete */
        unsigned later_other; /* beyond acked, partial (written as the freeze came) */
};

static int verify_archive(const char *path, struct verify *v) {
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
                fail("%s: %s", path, archive_error_string(a));
                archive_read_free(a);
                return -1;
        }
        size_t n = (size_t)(v->acked + 1);
        bool *seen = calloc(n + 1, 1);
        struct archive_entry *e;
        int r = 0;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                const char *p = archive_entry_pathname(e);
                const char *slash = strrchr(p, '/');
                unsigned idx;
                char tail[16];
                if (!slash || slash - p < 2 || strncmp(slash - 2, "/w", 2) != 0 ||
                    sscanf(slash + 1, "%u.da%15s", &idx, tail) != 2 || archive_entry_filetype(e) != AE_IFREG)
                        continue;
                struct bk_sha256 s;
                uint8_t buf[65536], d[32];
                char got[65], want[65];
                bk_sha256_init(&s);
                la_ssize_t k;
                while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
                        bk_sha256_update(&s, buf, (size_t)k);
                bk_sha256_final(&s, d);
                bk_sha256_hex(d, got);
                file_sha(idx, want);
                bool ok = strcmp(got, want) == 0;
                v->in_archive++;
                if ((long)idx <= v->acked) {
                        seen[idx] = ok;
                        ok ? v->acked_ok++ : v->acked_bad++;
                } else
                        ok ? v->later_ok++ : v->later_other++;
        }
        if (r != ARCHIVE_EOF) {
                fail("%s: %s", path, archive_error_string(a));
                r = -1;
        } else
                r = 0;
        free(seen);
        archive_read_free(a);
        return r;
}

/* ---- the demo ---- */

static int demo(struct cli *cli) {
        char b1[32], b2[32], b3[32], d1[32];
        int r;
        if (!mkdtemp(strcpy(D.tmp, "/tmp/quiesce-demo.XXXXXX")))
                return fail("cannot create a temporary directory: %m");
        chmod(D.tmp, 0755);
        bk_cleanup_push(BK_TREE, D.tmp, 0);
        snprintf(D.pool, sizeof(D.pool), "%s/pool", D.tmp);
        snprintf(D.pool_img, sizeof(D.pool_img), "%s/pool.img", D.tmp);
        snprintf(D.data, sizeof(D.data), "%s/data", D.tmp);
        snprintf(D.data_img, sizeof(D.data_img), "%s/data.img", D.pool);
        snprintf(D.store, sizeof(D.store), "%s/store", D.tmp);
        snprintf(D.hooks, sizeof(D.hooks), "%s/hooks.d", D.tmp);
        snprintf(D.sock, sizeof(D.sock), "%s/quiesced.sock", D.tmp);
        snprintf(D.archive, sizeof(D.archive), "%s/backup.tar.zst", D.tmp);

        act("0. A pool and a data filesystem, on loop devices in %s", D.tmp);
        if (make_image(D.pool_img, POOL_SIZE) < 0 ||
            run_ok((char *[]){"mkfs.xfs", "-q", "-f", D.pool_img, NULL}, true) < 0 ||
            attach_and_mount(D.pool_img, D.pool, "xfs", D.pool_dev, sizeof(D.pool_dev)) < 0)
                return -1;
        say("pool: XFS (reflink) on %s, mounted at %s", D.pool_dev, D.pool);
        if (make_image(D.data_img, DATA_SIZE) < 0 ||
            run_ok((char *[]){"mkfs.ext4", "-q", "-F", D.data_img, NULL}, true) < 0 ||
            attach_and_mount(D.data_img, D.data, "ext4", D.data_dev, sizeof(D.data_dev)) < 0)
                return -1;
        say("data: ext4 image %s inside the pool, on %s, mounted at %s", D.data_img, D.data_dev, D.data);

        if (D.use_running) {
                D.socket = cli->socket ? cli->socket : getenv(QZ_SOCKET_ENV);
                if (qz_client_open(D.socket, &D.c) < 0)
                        return fail("%s", qz_client_error(NULL));
                say("using the running quiesced at %s", D.socket ? D.socket : QZ_DEFAULT_SOCKET);
        } else {
                if (!(D.quiesced = find_quiesced()))
                        return fail("quiesced not found beside %s nor in /usr/sbin",
                                    D.self ? D.self : "quiesce");
                D.socket = D.sock;
                if (start_daemon() < 0)
                        return -1;
                say("quiesced runs on its own socket; its guard thaws everything should it die");
        }
        if (act_nested() < 0)
                return -1;

        act("3. A writer: files with known content, each fsync'd and then acknowledged");
        /* a freeze hook, so the snapshot can be application-consistent */
        char hook[PATH_MAX];
        snprintf(hook, sizeof(hook), "%s/10-demo", D.hooks);
        FILE *f = (mkdir(D.hooks, 0755) == 0) ? fopen(hook, "w") : NULL;
        if (!f)
                return fail("%s: %m", hook);
        fputs("#!/bin/sh\n# quiesce demo hook: an application would flush here (e.g. CHECKPOINT)\necho "
              "\"demo "
              "hook: $1\"\n",
              f);
        fclose(f);
        chmod(hook, 0755);
        struct writer w;
        if (writer_start(&w) < 0)
                return -1;
        sleep_ms(1500);
        writer_drain(&w);
        long acked = w.acked;
        say("writer pid %d: %ld files written and fsync'd so far, still writing", w.pid, acked + 1);

        act("4. A reflink snapshot through quiesce, while the writer writes");
        int64_t t_snap = qz_now_ms();
        char *out = NULL;
        char name[40];
        snprintf(name, sizeof(name), "demo-%ld", (long)time(NULL));
        char *snap_argv[] = {
                D.self,        "--socket",       (char *)(D.socket ? D.socket : QZ_DEFAULT_SOCKET),
                "snapshot",    "--provider",     "reflink",
                "--timeout",   SNAPSHOT_TIMEOUT, "--name",
                name,          "--store",        D.store,
                "--hooks-dir", D.hooks,          D.data,
                NULL};
        /* what was acknowledged before this point was fsync'd before the freeze */
        writer_drain(&w);
        acked = w.acked;
        r = run(snap_argv, &out, true);
        if (r != 0) {
                if (!bk_interrupted()) {
                        fail("quiesce snapshot failed (%d):", r);
                        indent(out);
                }
                free(out);
                return -1;
        }
        indent(out);
        free(out);
        int64_t snap_ms = qz_now_ms() - t_snap;
        sleep_ms(300);
        writer_drain(&w);
        long acked_after = w.acked;
        kill(w.pid, SIGTERM);
        waitpid(w.pid, NULL, 0);
        qz_manifest *m = NULL;
        if ((r = qz_manifest_load(D.store, name, &m)) < 0)
                return fail("%s/%s.json: %s", D.store, name, strerror(-r));

        act("5. The backup: the snapshot mounted read-only in private, archived with libarchive");
        char *bk_argv[] = {D.self, "backup", "--snapshot", name, "--store", D.store, "--to", D.archive, NULL};
        int64_t t_bk = qz_now_ms();
        r = run(bk_argv, &out, true);
        indent(out);
        free(out);
        int64_t bk_ms = qz_now_ms() - t_bk;
        if (r != 0) {
                qz_manifest_free(m);
                return bk_interrupted() ? -1 : fail("quiesce backup failed (%d)", r);
        }

        act("6. The proof");
        struct verify v = {.acked = acked};
        char *fsck_out = NULL;
        r = run((char *[]){"e2fsck", "-fn", m->fs[0].snapshot, NULL}, &fsck_out, true);
        bool fsck_clean = r == 0;
        bool recovery = fsck_out && strstr(fsck_out, "recovery");
        if (!fsck_clean || recovery)
                indent(fsck_out);
        free(fsck_out);
        say("e2fsck -fn of the snapshot image: %s%s", fsck_clean ? "clean" : "ERRORS",
            recovery ? ", and its journal needed recovery" : ", the journal needed no recovery");
        if (verify_archive(D.archive, &v) < 0) {
                qz_manifest_free(m);
                return -1;
        }
        bool all = v.acked_ok == (unsigned)(acked + 1) && v.acked_bad == 0;
        say("%ld files acknowledged before the freeze: %u in the archive with the right SHA-256%s", acked + 1,
            v.acked_ok, all ? " (all of them)" : "  <== MISSING OR CHANGED");
        say("%u more were written before the freeze and are there too (%u complete); %ld acknowledged after "
            "it",
            v.later_ok + v.later_other, v.later_ok, acked_after - acked);

        struct stat st_img = {0}, st_arc = {0};
        stat(m->fs[0].snapshot, &st_img);
        stat(D.archive, &st_arc);
        act("Report");
        say("snapshot        %s: %s%s%s%s", m->name, qz_label_name(m->label), m->label_reason ? " (" : "",
            m->label_reason ? m->label_reason : "", m->label_reason ? ")" : "");
        say("stall           %" PRId64 " ms: writes blocked by FIFREEZE; frozen %" PRId64
            " ms in all; the snapshot command took %s",
            m->fs[0].stall_ms, m->frozen_ms, qz_format_duration(snap_ms, d1, sizeof(d1)));
        const qz_snap_proof *pr = &m->fs[0].proof;
        if (pr->known && pr->held)
                say("freeze proof    verified: quiesced's probe at %s answered %s, and %" PRId64
                    " sectors were written on %s while frozen",
                    qz_format_duration(pr->probe_ms, d1, sizeof(d1)), pr->probe ? pr->probe : "?",
                    pr->sectors_written, pr->device ? pr->device : "?");
        else
                say("freeze proof    NOT verified: %s", pr->breach ? pr->breach : "no proof from quiesced");
        say("snapshot image  %s, a copy-on-write clone (FICLONE) of the %s ext4 image",
            qz_format_bytes((uint64_t)st_img.st_size, b1, sizeof(b1)),
            qz_format_bytes((uint64_t)DATA_SIZE, b2, sizeof(b2)));
        say("archive         %s: %s, written in %s", D.archive,
            qz_format_bytes((uint64_t)st_arc.st_size, b3, sizeof(b3)),
            qz_format_duration(bk_ms, d1, sizeof(d1)));
        say("consistency     fsck %s; %u/%ld acknowledged files intact", fsck_clean ? "clean" : "FAILED",
            v.acked_ok, acked + 1);
        say("time            %s in all", qz_format_duration(qz_now_ms() - D.t0, d1, sizeof(d1)));
        bool ok = fsck_clean && !recovery && all && m->label != QZ_LABEL_CRASH && pr->known && pr->held;
        qz_manifest_free(m);
        return ok ? 0 : fail("the snapshot did not prove consistent");
}

int cmd_demo(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"use-running", no_argument, NULL, 'r'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        int opt;
        memset(&D, 0, sizeof(D));
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "r", longopts, NULL)) != -1) {
                if (opt == 'r')
                        D.use_running = true;
                else {
                        int r = cli_common_option(cli, "demo", opt, argv);
                        if (r >= 0)
                                return r;
                }
        }
        if (optind < argc)
                return cli_usage_error("demo: unexpected argument '%s'", argv[optind]);
        if (geteuid() != 0) {
                cli_error("demo: run as root: it makes loop devices, mounts and freezes them");
                return EXIT_FAILURE;
        }
        D.tty = isatty(STDOUT_FILENO);
        D.t0 = qz_now_ms();
        if (!D.self) {
                char self[PATH_MAX];
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n > 0) {
                        self[n] = '\0';
                        D.self = strdup(self);
                }
        }
        bk_cleanup_init();
        int r = demo(cli);
        if (D.c)
                qz_client_close(D.c);
        if (bk_interrupted())
                printf("\nquiesce: demo interrupted by SIG%s\n", sigabbrev_np(bk_interrupted()));
        act("Cleaning up: thaw, stop quiesced, unmount, detach, remove %s", D.tmp);
        int left = bk_cleanup_run();
        say("%s", left ? "some objects could not be removed (see above)" : "nothing left behind");
        free(D.self);
        free(D.quiesced);
        if (bk_interrupted())
                return 128 + bk_interrupted();
        return r == 0 && left == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
