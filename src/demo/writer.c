/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c - the demo's writers. The main writer writes w/NNNNN.dat one after
 * another (write, fsync the file and its directory, then acknowledge the
 * index on a pipe), each file's size and content following from its index
 * alone, so the verifier knows what every acknowledged file must hold. The
 * probe writer of act 1 writes one file, to show a writer blocked by a freeze.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "demo.h"
#include "sysfs.h"

#define WRITER_MAX_BYTES (64ULL << 20)
#define WRITER_MAX_FILES 4000

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* File INDEX's content (malloc'd into *ret) and its size. */
static size_t file_content(unsigned index, uint8_t **ret) {
        uint64_t s = 0x9e3779b97f4a7c15ULL * (index + 1);
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

void demo_file_sha(unsigned index, char hex[65]) {
        uint8_t *b;
        size_t n = file_content(index, &b);
        demo_sha256_hex(b, n, hex);
        free(b);
}

static void __attribute__((noreturn)) writer_main(int dfd, int ack) {
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

int demo_writer_start(struct demo_writer *w, const char *dir) {
        int dfd = -1, p[2];
        char *wdir = NULL;
        if (asprintf(&wdir, "%s/w", dir) < 0)
                abort();
        if (mkdir(wdir, 0755) < 0 || (dfd = open(wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                demo_fail("%s: %m", wdir);
                free(wdir);
                return -1;
        }
        free(wdir);
        if (pipe2(p, O_CLOEXEC) < 0) {
                close(dfd);
                return demo_fail("pipe: %m");
        }
        *w = (struct demo_writer){.acked = -1};
        w->pid = fork();
        if (w->pid < 0) {
                close(dfd);
                close(p[0]);
                close(p[1]);
                return demo_fail("fork: %m");
        }
        if (w->pid == 0) {
                bk_cleanup_child_signals();
                close(p[0]);
                writer_main(dfd, p[1]);
        }
        close(dfd);
        close(p[1]);
        w->ack = p[0];
        fcntl(w->ack, F_SETFL, O_NONBLOCK);
        bk_cleanup_push(BK_CHILD, NULL, w->pid);
        return 0;
}

void demo_writer_drain(struct demo_writer *w) {
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

void demo_writer_stop(struct demo_writer *w) {
        kill(w->pid, SIGTERM);
        waitpid(w->pid, NULL, 0);
        close(w->ack);
}

pid_t demo_probe_spawn(const char *path) {
        pid_t pid = fork();
        if (pid == 0) {
                bk_cleanup_child_signals();
                int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
                if (fd < 0 || write(fd, "hello from the demo\n", 20) != 20 || fsync(fd) < 0)
                        _exit(1);
                _exit(0);
        }
        if (pid > 0)
                bk_cleanup_push(BK_CHILD, NULL, pid);
        return pid;
}

bool demo_blocked_on_freeze(pid_t pid) {
        char p[64], buf[256] = "";
        snprintf(p, sizeof(p), "/proc/%d/wchan", pid);
        if (qz_read_text_at(AT_FDCWD, p, buf, sizeof(buf)) < 0)
                buf[0] = '\0';
        return strstr(buf, "percpu_rwsem") || strstr(buf, "sb_start") || strstr(buf, "freeze");
}

bool demo_wait_done(pid_t pid, long ms) {
        for (long i = 0; i <= ms / 20; i++) {
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid)
                        return true;
                if (bk_interrupted())
                        return false;
                demo_sleep_ms(20);
        }
        return false;
}
