/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stage.c - the demo's stage: commands run with their output captured,
 * image files, loop devices and mounts, and the demo's own quiesced on a
 * private socket; each registered for cleanup as soon as it exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "demo.h"
#include "xalloc.h"

static void show_command(char *const *argv) {
        size_t len = 1;
        for (size_t i = 0; argv[i]; i++)
                len += strlen(argv[i]) + 1;
        char *line = malloc(len), *p = line;
        if (!line)
                abort();
        for (size_t i = 0; argv[i]; i++)
                p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
        *p = '\0';
        demo_say("$ %s", line);
        free(line);
}

/* Everything the child wrote, until it closes the pipe (or we are interrupted). */
static char *read_all(int fd) {
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);
        if (!buf)
                abort();
        for (;;) {
                if (len + 1024 > cap && !(buf = realloc(buf, cap *= 2)))
                        abort();
                ssize_t n = read(fd, buf + len, cap - len - 1);
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
        return buf;
}

int demo_run(char *const *argv, char **out, bool show) {
        if (show)
                show_command(argv);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
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
        char *buf = read_all(p[0]);
        close(p[0]);
        int st = 0;
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

int demo_run_ok(char *const *argv, bool show) {
        char *out = NULL;
        int r = demo_run(argv, &out, show);
        if (r != 0 && !bk_interrupted()) {
                demo_fail("%s failed (%d):", argv[0], r);
                demo_indent(out);
        }
        free(out);
        return r == 0 ? 0 : -1;
}

int demo_make_image(const char *path, uint64_t size) {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
                demo_fail("%s: %m", path);
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

int demo_attach_and_mount(const char *img, const char *dir, const char *fstype, char *dev, size_t devlen) {
        int b = open(img, O_RDWR | O_CLOEXEC);
        if (b < 0)
                return demo_fail("%s: %m", img);
        int lfd = bk_loop_attach(b, false, dev, devlen);
        close(b);
        if (lfd < 0)
                return demo_fail("%s: cannot attach a loop device: %s", img, strerror(-lfd));
        bk_cleanup_push(BK_LOOP, dev, 0);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                close(lfd);
                return demo_fail("%s: %m", dir);
        }
        int r = mount(dev, dir, fstype, 0, NULL);
        int e = errno;
        close(lfd);
        if (r < 0)
                return demo_fail("cannot mount %s (%s) on %s: %s", dev, fstype, dir, strerror(e));
        bk_cleanup_push(BK_MOUNT, dir, 0);
        return 0;
}

char *demo_find_program(const char *name, const char *build_subdir) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                const char *dir = dirname(self);
                /* the build tree (build/src/demo beside build/src/cli), then the same directory */
                char *candidates[] = {xasprintf("%s/../%s/%s", dir, build_subdir, name),
                                      xasprintf("%s/%s", dir, name)};
                char *found = NULL;
                for (size_t i = 0; i < 2; i++) {
                        if (!found && access(candidates[i], X_OK) == 0)
                                found = realpath(candidates[i], NULL);
                        free(candidates[i]);
                }
                if (found)
                        return found;
        }
        const char *dirs[] = {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                char *p = xasprintf("%s/%s", dirs[i], name);
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

int demo_start_daemon(const char *max_frozen) {
        char *log = xasprintf("%s/quiesced.log", D.tmp);
        demo_say("$ quiesced --socket %s --max-frozen %s &", D.sock, max_frozen);
        pid_t pid = fork();
        if (pid < 0) {
                free(log);
                return demo_fail("fork: %m");
        }
        if (pid == 0) {
                bk_cleanup_child_signals();
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                setpgid(0, 0); /* Ctrl-C is ours to handle: we stop it after the holds are thawed */
                execl(D.quiesced, "quiesced", "--socket", D.sock, "--max-frozen", max_frozen, (char *)NULL);
                _exit(127);
        }
        bk_cleanup_push(BK_CHILD, NULL, pid);
        int r = -1;
        for (int i = 0; i < 100 && !bk_interrupted(); i++) {
                if (qz_client_open(D.sock, &D.c) == 0) {
                        r = 0;
                        break;
                }
                int st;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        demo_fail("quiesced exited at start (see %s)", log);
                        break;
                }
                demo_sleep_ms(50);
                if (i == 99)
                        demo_fail("quiesced did not answer on %s (see %s)", D.sock, log);
        }
        free(log);
        return r;
}
