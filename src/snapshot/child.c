/* SPDX-License-Identifier: GPL-2.0-or-later */
/* child.c - a child process under a deadline (see child.h): fork, own
 * process group, pipes polled into bounded buffers, pidfd for the exit,
 * SIGTERM/SIGKILL to the group at the deadline.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int pidfd_open_(pid_t pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void buf_add(qz_buf *b, const char *data, size_t n) {
        if (b->len + n > QZ_CHILD_OUTPUT_MAX) {
                b->truncated = true;
                n = QZ_CHILD_OUTPUT_MAX - b->len;
        }
        if (n == 0)
                return;
        char *d = realloc(b->data, b->len + n + 1);
        if (!d)
                abort();
        memcpy(d + b->len, data, n);
        b->len += n;
        d[b->len] = '\0';
        b->data = d;
}

/* Reads what is there; false at EOF or error. */
static bool drain(int fd, qz_buf *b) {
        char tmp[4096];
        for (;;) {
                ssize_t n = read(fd, tmp, sizeof(tmp));
                if (n > 0) {
                        buf_add(b, tmp, (size_t)n);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                return n < 0 && errno == EAGAIN;
        }
}

static char **make_env(char *const *add) {
        size_t n = 0, k = 0;
        while (environ && environ[n])
                n++;
        while (add && add[k])
                k++;
        char **e = calloc(n + k + 1, sizeof(*e));
        if (!e)
                return environ;
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                bool replaced = false;
                for (size_t a = 0; a < k; a++) {
                        size_t len = strcspn(add[a], "=");
                        if (strncmp(environ[i], add[a], len) == 0 && environ[i][len] == '=')
                                replaced = true;
                }
                if (!replaced)
                        e[j++] = environ[i];
        }
        for (size_t a = 0; a < k; a++)
                e[j++] = add[a];
        e[j] = NULL;
        return e;
}

/* In the child: never returns. */
static void child_main(const qz_child_spec *s, int out_w, int err_w, int report_w) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0 && null != 0)
                dup2(null, 0);
        dup2(out_w, 1);
        dup2(s->merge_stderr ? out_w : err_w, 2);
        if (chdir("/") < 0)
                _exit(127);
        if (s->fn) {
                /* nothing of the parent's (quiesced's socket: the hold must end with us),
                 * unless asked to keep one descriptor, as fd 3 */
                int first = 3;
                if (s->keep_fd > 2) {
                        if (s->keep_fd != 3 && dup2(s->keep_fd, 3) < 0)
                                _exit(126);
                        fcntl(3, F_SETFD, FD_CLOEXEC);
                        first = 4;
                }
                close_range((unsigned)first, ~0U, 0);
                fflush(NULL);
                int r = s->fn(s->arg);
                fflush(NULL);
                _exit(r);
        }
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        char **env = make_env(s->env_add);
        if (s->exec_fd >= 0) {
                int fd = dup(s->exec_fd); /* not close-on-exec: a script's interpreter opens /dev/fd/N */
                execveat(fd, "", s->argv, env, AT_EMPTY_PATH);
        } else
                execvpe(s->argv[0], s->argv, env);
        int e = errno;
        (void)!write(report_w, &e, sizeof(e));
        _exit(e == ENOENT ? 127 : 126);
}

static void kill_group(pid_t pid, int sig) {
        if (kill(-pid, sig) < 0)
                kill(pid, sig);
}

int qz_child_run(const qz_child_spec *s, qz_child_result *r) {
        memset(r, 0, sizeof(*r));
        int out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
        int64_t start = qz_now_ms();
        if (pipe2(out, O_CLOEXEC) < 0 || (!s->merge_stderr && pipe2(err, O_CLOEXEC) < 0) ||
            pipe2(rep, O_CLOEXEC) < 0) {
                int e = -errno;
                for (int i = 0; i < 2; i++) {
                        if (out[i] >= 0)
                                close(out[i]);
                        if (err[i] >= 0)
                                close(err[i]);
                        if (rep[i] >= 0)
                                close(rep[i]);
                }
                return e;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(out[0]), close(out[1]), close(rep[0]), close(rep[1]);
                if (err[0] >= 0)
                        close(err[0]), close(err[1]);
                return e;
        }
        if (pid == 0)
                child_main(s, out[1], err[1], rep[1]);
        setpgid(pid, pid); /* also done in the child: whoever runs first */
        close(out[1]);
        close(rep[1]);
        if (err[1] >= 0)
                close(err[1]);

        int e;
        ssize_t n;
        while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
                ;
        close(rep[0]);
        if (n == (ssize_t)sizeof(e)) {
                r->exec_errno = e;
                qz_child_reap(pid, 1000, &r->status);
                r->reaped = true;
                close(out[0]);
                if (err[0] >= 0)
                        close(err[0]);
                r->duration_ms = qz_now_ms() - start;
                return 0;
        }
        r->started = true;
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        if (err[0] >= 0)
                fcntl(err[0], F_SETFL, O_NONBLOCK);
        int pfd = pidfd_open_(pid);

        enum { RUNNING, TERMED, KILLED } state = RUNNING;
        int64_t next_step = s->deadline_ms;
        bool out_open = true, err_open = err[0] >= 0;
        while (!r->reaped) {
                int64_t now = qz_now_ms();
                bool stop = s->interrupted && *s->interrupted;
                if (state == RUNNING && ((s->deadline_ms >= 0 && now >= s->deadline_ms) || stop)) {
                        r->timed_out = true;
                        r->interrupted = stop;
                        kill_group(pid, SIGTERM);
                        state = TERMED;
                        next_step = now + (s->kill_grace_ms > 0 ? s->kill_grace_ms : 0);
                        continue;
                }
                if (state == TERMED && now >= next_step) {
                        kill_group(pid, SIGKILL);
                        state = KILLED;
                        next_step = now + (s->reap_wait_ms > 0 ? s->reap_wait_ms : 0);
                        continue;
                }
                if (state == KILLED && now >= next_step)
                        break; /* in the kernel (D state): the caller reaps it later */
                int timeout = 100;
                if (state != RUNNING || s->deadline_ms >= 0) {
                        int64_t left = next_step - now;
                        if (left < timeout)
                                timeout = left < 0 ? 0 : (int)left;
                }
                struct pollfd p[3];
                int np = 0, iout = -1, ierr = -1, ipid = -1;
                if (out_open)
                        iout = np, p[np++] = (struct pollfd){.fd = out[0], .events = POLLIN};
                if (err_open)
                        ierr = np, p[np++] = (struct pollfd){.fd = err[0], .events = POLLIN};
                if (pfd >= 0)
                        ipid = np, p[np++] = (struct pollfd){.fd = pfd, .events = POLLIN};
                int k = poll(p, (nfds_t)np, timeout);
                if (k < 0 && errno != EINTR)
                        break;
                if (iout >= 0 && k > 0 && p[iout].revents)
                        out_open = drain(out[0], &r->out);
                if (ierr >= 0 && k > 0 && p[ierr].revents)
                        err_open = drain(err[0], &r->err);
                if (pfd < 0 || (ipid >= 0 && k > 0 && p[ipid].revents)) {
                        pid_t w = waitpid(pid, &r->status, WNOHANG);
                        if (w == pid)
                                r->reaped = true;
                }
        }
        /* What is left in the pipes (a grandchild may keep them open: no waiting). */
        if (out_open)
                drain(out[0], &r->out);
        if (err_open)
                drain(err[0], &r->err);
        if (r->reaped)
                kill_group(pid, SIGKILL); /* leftovers of its group (a hook's background children) */
        else
                r->pid = pid;
        close(out[0]);
        if (err[0] >= 0)
                close(err[0]);
        if (pfd >= 0)
                close(pfd);
        r->duration_ms = qz_now_ms() - start;
        return 0;
}

void qz_child_result_done(qz_child_result *r) {
        free(r->out.data);
        free(r->err.data);
        r->out.data = r->err.data = NULL;
}

bool qz_child_reap(pid_t pid, int64_t wait_ms, int *status) {
        int st = 0;
        kill_group(pid, SIGKILL);
        int64_t until = qz_now_ms() + wait_ms;
        for (;;) {
                pid_t w = waitpid(pid, &st, WNOHANG);
                if (w == pid || (w < 0 && errno == ECHILD)) {
                        if (status)
                                *status = st;
                        return true;
                }
                if (qz_now_ms() >= until)
                        return false;
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
}

const char *qz_child_first_line(const qz_child_result *r, char *buf, size_t size) {
        const char *s = r->err.data && *r->err.data ? r->err.data : r->out.data ? r->out.data : "";
        while (*s == ' ')
                s++;
        snprintf(buf, size, "%s", s);
        buf[strcspn(buf, "\n")] = '\0';
        return buf;
}

const char *qz_child_describe(const qz_child_result *r, char *buf, size_t size) {
        if (!r->started && r->exec_errno)
                snprintf(buf, size, "could not be run: %s", strerror(r->exec_errno));
        else if (!r->reaped)
                snprintf(buf, size, "did not exit after SIGKILL (blocked in the kernel)");
        else if (WIFEXITED(r->status))
                snprintf(buf, size, "exit %d", WEXITSTATUS(r->status));
        else if (WIFSIGNALED(r->status))
                snprintf(buf, size, "killed by SIG%s",
                         sigabbrev_np(WTERMSIG(r->status)) ? sigabbrev_np(WTERMSIG(r->status)) : "?");
        else
                snprintf(buf, size, "ended");
        return buf;
}
