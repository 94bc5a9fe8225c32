/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer_session.c - `quiesce writer --session CMD`'s helper: one long-lived
 * child (no shell) with pipes on its stdin and stdout, which prints "ready",
 * then answers each phase line ("prepare", "freeze", "thaw", "abort") with
 * one line ("ok [DETAIL]", "veto REASON", "fail REASON"); its death noticed,
 * its restart paced by a backoff, its end: stdin closed, a grace, SIGKILL.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "xalloc.h"

#define BACKOFF_FIRST_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)

void wsession_init(struct wsession *s, char **argv, const sigset_t *sigmask) {
        *s = (struct wsession){.argv = argv, .pid = 0, .in_w = -1, .out_r = -1, .sigmask = sigmask};
}

bool wsession_alive(const struct wsession *s) {
        return s->pid > 0;
}

/* The helper is gone (EOF on its stdout, or a write failed): reaped, its
 * pipes closed, a restart allowed after the backoff. */
static void died(struct wsession *s) {
        if (s->pid > 0) {
                int st = 0;
                if (qz_child_reap(s->pid, USEC_PER_SEC / 2, &st)) {
                        if (WIFSIGNALED(st))
                                cli_error("writer: the session helper %s (pid %d) was killed by %s",
                                          s->argv[0], (int)s->pid, strsignal(WTERMSIG(st)));
                        else
                                cli_error("writer: the session helper %s (pid %d) exited with status %d",
                                          s->argv[0], (int)s->pid, WEXITSTATUS(st));
                }
        }
        if (s->in_w >= 0)
                close(s->in_w);
        if (s->out_r >= 0)
                close(s->out_r);
        s->in_w = s->out_r = -1;
        s->pid = 0;
        s->len = 0;
        s->prepared = s->frozen = false;
        s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_FIRST_USEC;
        if (s->backoff > BACKOFF_MAX_USEC)
                s->backoff = BACKOFF_MAX_USEC;
        s->next_start = qz_now() + s->backoff;
}

/* One line from the helper by deadline: 1 and *ret (malloc'd, no newline),
 * 0 at the deadline, -EPIPE when it died. */
static int read_line(struct wsession *s, usec_t deadline, char **ret) {
        for (;;) {
                char *nl = memchr(s->buf, '\n', s->len);
                if (nl) {
                        size_t n = (size_t)(nl - s->buf);
                        *ret = xasprintf("%.*s", (int)n, s->buf);
                        memmove(s->buf, nl + 1, s->len - n - 1);
                        s->len -= n + 1;
                        if (n && (*ret)[n - 1] == '\r')
                                (*ret)[n - 1] = '\0';
                        return 1;
                }
                if (s->len == sizeof(s->buf)) /* a line longer than the buffer: cut there */
                        s->buf[s->len - 1] = '\n';
                usec_t now = qz_now();
                if (now >= deadline)
                        return 0;
                struct pollfd p = {.fd = s->out_r, .events = POLLIN};
                int ms = (int)((deadline - now + 999) / 1000);
                int r = poll(&p, 1, ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                ssize_t n = read(s->out_r, s->buf + s->len, sizeof(s->buf) - s->len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0) {
                        died(s);
                        return -EPIPE;
                }
                s->len += (size_t)n;
        }
}

int wsession_start(struct wsession *s, usec_t deadline, char **ret_error) {
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) < 0)
                return qz_error(ret_error, -errno, "cannot make a pipe: %s", strerror(errno));
        if (pipe2(out, O_CLOEXEC) < 0) {
                int r = -errno;
                close(in[0]), close(in[1]);
                return qz_error(ret_error, r, "cannot make a pipe: %s", strerror(-r));
        }
        qz_child_spec spec = {.argv = s->argv,
                              .exec_fd = -1,
                              .cwd = "/",
                              .inherit_stdio = true,
                              .stdin_fd = in[0],
                              .stdout_fd = out[1],
                              .sigmask = s->sigmask};
        int exec_errno = 0;
        pid_t pid = qz_child_spawn(&spec, &exec_errno);
        close(in[0]), close(out[1]);
        if (pid < 0 || exec_errno) {
                close(in[1]), close(out[0]);
                int e = pid < 0 ? (int)-pid : exec_errno;
                s->backoff = s->backoff ? s->backoff : BACKOFF_FIRST_USEC;
                s->next_start = qz_now() + s->backoff;
                return qz_error(ret_error, -e, "cannot run the session helper %s: %s", s->argv[0],
                                strerror(e));
        }
        s->pid = pid;
        s->in_w = in[1];
        s->out_r = out[0];
        s->len = 0;
        _cleanup_free_ char *line = NULL;
        int r;
        while ((r = read_line(s, deadline, &line)) > 0 && strcmp(line, "ready") != 0) {
                free(line); /* chatter before ready: not ours to judge */
                line = NULL;
        }
        if (r > 0)
                return 0;
        if (r == 0) {
                wsession_stop(s, 0);
                died(s);
                return qz_error(ret_error, -ETIMEDOUT,
                                "the session helper %s did not print \"ready\" in time", s->argv[0]);
        }
        return qz_error(ret_error, -EPIPE, "the session helper %s exited before it printed \"ready\"",
                        s->argv[0]);
}

int wsession_phase(struct wsession *s, const char *phase, usec_t deadline, char **ret_line,
                   char **ret_error) {
        *ret_line = NULL;
        if (!wsession_alive(s))
                return qz_error(ret_error, -EPIPE, "the session helper is not running");
        size_t n = strlen(phase);
        char msg[16];
        memcpy(msg, phase, n);
        msg[n] = '\n';
        ssize_t w = write(s->in_w, msg, n + 1);
        if (w != (ssize_t)(n + 1)) {
                died(s);
                return qz_error(ret_error, -EPIPE, "the session helper died (it no longer reads its stdin)");
        }
        if (strcmp(phase, "prepare") == 0)
                s->prepared = true;
        else if (strcmp(phase, "freeze") == 0)
                s->frozen = true; /* from here it is owed a thaw, whatever it answers */
        else
                s->prepared = s->frozen = false;
        int r = read_line(s, deadline, ret_line);
        if (r > 0)
                return 0;
        if (r == 0)
                return qz_error(ret_error, -ETIMEDOUT, "the session helper did not answer %s in time", phase);
        return qz_error(ret_error, -EPIPE, "the session helper died during %s", phase);
}

void wsession_poll_idle(struct wsession *s) {
        char *line = NULL;
        while (wsession_alive(s) && read_line(s, 0, &line) > 0) {
                cli_error("writer: the session helper said, unasked: %s", line);
                free(line);
                line = NULL;
        }
}

void wsession_stop(struct wsession *s, usec_t grace) {
        if (!wsession_alive(s))
                return;
        close(s->in_w); /* its cue to end its session and exit */
        s->in_w = -1;
        usec_t until = qz_now() + grace;
        int st;
        pid_t w;
        while ((w = waitpid(s->pid, &st, WNOHANG)) == 0 && qz_now() < until) {
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL);
        }
        if (w == 0) {
                cli_error("writer: the session helper (pid %d) did not exit in time; killing it",
                          (int)s->pid);
                qz_child_reap(s->pid, USEC_PER_SEC, &st);
        } else {
                kill(-s->pid, SIGKILL); /* what it left behind in its process group */
        }
        close(s->out_r);
        s->out_r = -1;
        s->pid = 0;
}
