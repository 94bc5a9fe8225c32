/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exec.c - `--exec CMD ARG... --`: the user's command run once per mounted
 * snapshot, no shell, placeholders substituted per argument, cwd at the
 * snapshot; killed (SIGTERM, then SIGKILL) when the backup is interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"

#define KILL_GRACE_MS 5000

char *bk_exec_substitute(const char *arg, const struct bk_exec_vars *v) {
        const struct {
                const char *key, *val;
        } subst[] = {
                {"{path}", v->path}, {"{mountpoint}", v->mountpoint}, {"{fstype}", v->fstype},
                {"{name}", v->name}, {"{label}", v->label},
        };
        size_t cap = strlen(arg) + 1, len = 0;
        char *out = malloc(cap);
        if (!out)
                return NULL;
        for (const char *s = arg; *s;) {
                const char *val = NULL;
                size_t klen = 0;
                for (size_t i = 0; i < sizeof(subst) / sizeof(subst[0]); i++)
                        if (strncmp(s, subst[i].key, strlen(subst[i].key)) == 0) {
                                val = subst[i].val ? subst[i].val : "";
                                klen = strlen(subst[i].key);
                                break;
                        }
                size_t add = val ? strlen(val) : 1;
                if (len + add + 1 > cap) {
                        cap = (len + add + 1) * 2;
                        char *n = realloc(out, cap);
                        if (!n) {
                                free(out);
                                return NULL;
                        }
                        out = n;
                }
                if (val) {
                        memcpy(out + len, val, add);
                        s += klen;
                } else
                        out[len] = *s++;
                len += add;
        }
        out[len] = '\0';
        return out;
}

static int pidfd_open_(pid_t pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits for pid; when interrupted, SIGTERM then SIGKILL. The wait status. */
static int wait_child(pid_t pid, bool *interrupted) {
        int pfd = pidfd_open_(pid);
        int64_t kill_at = -1;
        int st;
        *interrupted = false;
        for (;;) {
                pid_t w = waitpid(pid, &st, WNOHANG);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        st = -errno;
                        break;
                }
                if (bk_interrupted() && !*interrupted) {
                        *interrupted = true;
                        kill(pid, SIGTERM);
                        kill_at = qz_now_ms() + KILL_GRACE_MS;
                }
                if (kill_at >= 0 && qz_now_ms() >= kill_at) {
                        kill(pid, SIGKILL);
                        kill_at = -1;
                }
                if (pfd >= 0) {
                        struct pollfd p = {.fd = pfd, .events = POLLIN};
                        poll(&p, 1, 100); /* EINTR on a signal: checked above */
                } else {
                        usleep(20000);
                }
        }
        if (pfd >= 0)
                close(pfd);
        return st;
}

int bk_exec_run(char *const *argv, size_t argc, const struct bk_exec_vars *v, char *err, size_t errlen) {
        char **args = calloc(argc + 1, sizeof(char *));
        if (!args)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; i < argc && r == 0; i++)
                if (!(args[i] = bk_exec_substitute(argv[i], v)))
                        r = -ENOMEM;
        int p[2] = {-1, -1};
        if (r == 0 && pipe2(p, O_CLOEXEC) < 0)
                r = -errno;
        pid_t pid = -1;
        if (r == 0 && (pid = fork()) < 0)
                r = -errno;
        if (pid == 0) {
                bk_cleanup_child_signals();
                if (v->stdout_to_stderr)
                        dup2(STDERR_FILENO, STDOUT_FILENO);
                int e = 0;
                if (chdir(v->path) < 0)
                        e = errno;
                setenv("QUIESCE_SNAPSHOT_PATH", v->path, 1);
                setenv("QUIESCE_SNAPSHOT_MOUNTPOINT", v->mountpoint ? v->mountpoint : "", 1);
                setenv("QUIESCE_SNAPSHOT_NAME", v->name ? v->name : "", 1);
                setenv("QUIESCE_SNAPSHOT_LABEL", v->label ? v->label : "", 1);
                if (!e) {
                        execvp(args[0], args);
                        e = errno;
                }
                (void)!write(p[1], &e, sizeof(e));
                _exit(e == ENOENT ? 127 : 126);
        }
        if (r == 0) {
                int h = bk_cleanup_push(BK_CHILD, NULL, pid);
                close(p[1]);
                p[1] = -1;
                int e = 0;
                ssize_t n;
                while ((n = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
                        ;
                bool interrupted;
                int st = wait_child(pid, &interrupted);
                bk_cleanup_pop(h, false);
                if (n == (ssize_t)sizeof(e)) {
                        snprintf(err, errlen, "%s: %s", args[0], strerror(e));
                        r = e == ENOENT ? -ENOENT : -EACCES;
                } else if (interrupted)
                        r = -EINTR;
                else
                        r = st;
        }
        if (p[0] >= 0)
                close(p[0]);
        if (p[1] >= 0)
                close(p[1]);
        for (size_t i = 0; i < argc; i++)
                free(args[i]);
        free(args);
        return r;
}
