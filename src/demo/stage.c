/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stage.c - the demo's stage: commands run with their output captured
 * (the one child runner, src/common/child.c),
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
#include "child.h"
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

int demo_run(char *const *argv, char **out, bool show) {
        if (show)
                show_command(argv);
        qz_child_spec spec = {
                .argv = argv,
                .exec_fd = -1,
                .cwd = ".",
                .merge_stderr = true, /* what it says, in the order it says it */
                .deadline = qz_now() + DEMO_COMMAND_TIMEOUT,
                .kill_grace = 5 * USEC_PER_SEC,
                .reap_wait = 5 * USEC_PER_SEC,
                .interrupted = bk_interrupt_flag(),
        };
        qz_child_result res;
        int r = qz_child_run(&spec, &res);
        if (r < 0)
                return r;
        if (out)
                *out = xstrdup(res.out.data ? res.out.data : "");
        if (res.exec_errno)
                r = 127;
        else if (res.interrupted || bk_interrupted())
                r = -EINTR;
        else if (res.timed_out)
                r = -ETIMEDOUT;
        else
                r = res.reaped ? qz_child_exit_status(res.status) : -ECHILD;
        if (res.exec_errno && out) {
                free(*out);
                *out = xasprintf("%s: %s\n", argv[0], strerror(res.exec_errno));
        }
        qz_child_result_done(&res);
        return r;
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
