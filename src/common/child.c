/* SPDX-License-Identifier: GPL-2.0-or-later */
/* child.c - a child process under a deadline (see child.h): fork, own
 * process group, pipes polled into bounded buffers (or the caller's stdio),
 * pidfd for the exit, SIGTERM/SIGKILL to the group at the deadline.
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

#include "cleanup.h"

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

char *qz_env_entry(const char *name, const char *value) {
        char *s;
        if (asprintf(&s, "%s=%s", name, value ? value : "") < 0)
                abort();
        return s;
}

static char **make_env(char *const *add) {
        size_t n = 0, k = 0;
        while (environ && environ[n])
                n++;
        while (add && add[k])
                k++;
        if (k == 0)
                return environ;
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

_Noreturn static void child_fail(int report_w, int e) {
        (void)!write(report_w, &e, sizeof(e));
        _exit(e == ENOENT ? 127 : 126);
}

/* In the child: never returns. out_w/err_w: the capture pipes, -1 when inherited. */
_Noreturn static void child_main(const qz_child_spec *s, int out_w, int err_w, int report_w) {
        if (!s->keep_pgroup)
                setpgid(0, 0);
        if (s->sigmask)
                sigprocmask(SIG_SETMASK, s->sigmask, NULL);
        else {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                for (int sig = 1; sig < NSIG; sig++)
                        if (sig != SIGKILL && sig != SIGSTOP)
                                signal(sig, SIG_DFL);
        }
        if (!s->inherit_stdio) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null >= 0 && null != 0)
                        dup2(null, 0);
                dup2(out_w, 1);
                dup2(s->merge_stderr || err_w < 0 ? out_w : err_w, 2);
        } else {
                if (s->stdin_fd > 2)
                        dup2(s->stdin_fd, STDIN_FILENO);
                if (s->stdout_fd > 2)
                        dup2(s->stdout_fd, STDOUT_FILENO);
                else if (s->stdout_to_stderr)
                        dup2(STDERR_FILENO, STDOUT_FILENO);
        }
        if (chdir(s->cwd ? s->cwd : "/") < 0)
                child_fail(report_w, errno);
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
        if (!s->inherit_stdio)
                close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        char **env = make_env(s->env_add);
        if (s->exec_fd >= 0) {
                int fd = dup(s->exec_fd); /* not close-on-exec: a script's interpreter opens /dev/fd/N */
                execveat(fd, "", s->argv, env, AT_EMPTY_PATH);
        } else
                execvpe(s->argv[0], s->argv, env);
        child_fail(report_w, errno);
}

static void kill_group(pid_t pid, int sig) {
        if (kill(-pid, sig) < 0)
                kill(pid, sig);
}

/* The child of s, not yet reaped: its group, or itself when it kept ours. */
static void kill_child(const qz_child_spec *s, pid_t pid, int sig) {
        if (s->keep_pgroup)
                kill(pid, sig);
        else
                kill_group(pid, sig);
}

static usec_t add_sat(usec_t a, usec_t b) {
        return a > QZ_USEC_INFINITY - b ? QZ_USEC_INFINITY : a + b;
}

/* Forks; waits for the exec (or its failure, then reaps into *status). */
static pid_t start(const qz_child_spec *s, int out_w, int err_w, int *exec_errno, int *status) {
        int rep[2];
        *exec_errno = 0;
        if (pipe2(rep, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(rep[0]);
                close(rep[1]);
                return e;
        }
        if (pid == 0)
                child_main(s, out_w, err_w, rep[1]);
        if (!s->keep_pgroup)
                setpgid(pid, pid); /* also done in the child: whoever runs first */
        close(rep[1]);
        int e;
        ssize_t n;
        while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
                ;
        close(rep[0]);
        if (n == (ssize_t)sizeof(e)) {
                *exec_errno = e;
                qz_child_reap(pid, USEC_PER_SEC, status);
        }
        return pid;
}

pid_t qz_child_spawn(const qz_child_spec *s, int *exec_errno) {
        qz_child_spec t = *s;
        t.inherit_stdio = true;
        int st;
        return start(&t, -1, -1, exec_errno, &st);
}

static void close_pair(int p[2]) {
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0)
                        close(p[i]);
        p[0] = p[1] = -1;
}

/* Polls the pipes and the pidfd until it is reaped, or it stays after SIGKILL. */
static void wait_for(const qz_child_spec *s, pid_t pid, int out_r, int err_r, qz_child_result *r) {
        _cleanup_close_ int pfd = pidfd_open_(pid);
        enum { RUNNING, TERMED, KILLED } state = RUNNING;
        usec_t next_step = s->deadline;
        bool out_open = out_r >= 0, err_open = err_r >= 0;
        if (out_open)
                fcntl(out_r, F_SETFL, O_NONBLOCK);
        if (err_open)
                fcntl(err_r, F_SETFL, O_NONBLOCK);
        while (!r->reaped) {
                usec_t now = qz_now();
                bool stop = s->interrupted && *s->interrupted;
                if (state == RUNNING && (now >= s->deadline || stop)) {
                        r->timed_out = true;
                        r->interrupted = stop;
                        kill_child(s, pid, SIGTERM);
                        state = TERMED;
                        next_step = add_sat(now, s->kill_grace);
                        continue;
                }
                if (state == TERMED && now >= next_step) {
                        kill_child(s, pid, SIGKILL);
                        state = KILLED;
                        next_step = add_sat(now, s->reap_wait);
                        continue;
                }
                if (state == KILLED && now >= next_step)
                        break; /* in the kernel (D state): the caller reaps it later */
                int timeout = 100;
                if (next_step != QZ_USEC_INFINITY) {
                        usec_t left =
                                next_step > now ? (next_step - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC : 0;
                        if (left < (usec_t)timeout)
                                timeout = (int)left;
                }
                struct pollfd p[3];
                int np = 0, iout = -1, ierr = -1, ipid = -1;
                if (out_open)
                        iout = np, p[np++] = (struct pollfd){.fd = out_r, .events = POLLIN};
                if (err_open)
                        ierr = np, p[np++] = (struct pollfd){.fd = err_r, .events = POLLIN};
                if (pfd >= 0)
                        ipid = np, p[np++] = (struct pollfd){.fd = pfd, .events = POLLIN};
                int k = poll(p, (nfds_t)np, timeout);
                if (k < 0 && errno != EINTR)
                        break;
                if (iout >= 0 && k > 0 && p[iout].revents)
                        out_open = drain(out_r, &r->out);
                if (ierr >= 0 && k > 0 && p[ierr].revents)
                        err_open = drain(err_r, &r->err);
                if (pfd < 0 || (ipid >= 0 && k > 0 && p[ipid].revents)) {
                        pid_t w = waitpid(pid, &r->status, WNOHANG);
                        if (w == pid)
                                r->reaped = true;
                }
        }
        /* What is left in the pipes (a grandchild may keep them open: no waiting). */
        if (out_open)
                drain(out_r, &r->out);
        if (err_open)
                drain(err_r, &r->err);
}

int qz_child_run(const qz_child_spec *s, qz_child_result *r) {
        memset(r, 0, sizeof(*r));
        int out[2] = {-1, -1}, err[2] = {-1, -1};
        usec_t t0 = qz_now();
        if (!s->inherit_stdio &&
            (pipe2(out, O_CLOEXEC) < 0 || (!s->merge_stderr && pipe2(err, O_CLOEXEC) < 0))) {
                int e = -errno;
                close_pair(out);
                close_pair(err);
                return e;
        }
        pid_t pid = start(s, out[1], err[1], &r->exec_errno, &r->status);
        if (out[1] >= 0)
                close(out[1]), out[1] = -1;
        if (err[1] >= 0)
                close(err[1]), err[1] = -1;
        if (pid < 0) {
                close_pair(out);
                close_pair(err);
                return (int)pid;
        }
        if (r->exec_errno)
                r->reaped = true;
        else {
                r->started = true;
                wait_for(s, pid, out[0], err[0], r);
                if (r->reaped && !s->keep_pgroup)
                        kill(-pid, SIGKILL); /* leftovers of its group (a hook's background children) */
                else
                        r->pid = pid;
        }
        close_pair(out);
        close_pair(err);
        r->duration = qz_now() - t0;
        return 0;
}

void qz_child_result_done(qz_child_result *r) {
        free(r->out.data);
        free(r->err.data);
        r->out.data = r->err.data = NULL;
}

bool qz_child_reap(pid_t pid, usec_t wait, int *status) {
        int st = 0;
        kill_group(pid, SIGKILL);
        usec_t until = qz_now() + wait;
        for (;;) {
                pid_t w = waitpid(pid, &st, WNOHANG);
                if (w == pid || (w < 0 && errno == ECHILD)) {
                        if (status)
                                *status = st;
                        return true;
                }
                if (qz_now() >= until)
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

int qz_child_exit_status(int st) {
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return EXIT_FAILURE;
}
