/* SPDX-License-Identifier: GPL-2.0-or-later */
/* child.h - the one way quiesce runs a child process: fork, its own process
 * group, a pidfd for its exit, SIGTERM then SIGKILL (to the group) at a
 * deadline or an interruption, and never an unbounded wait. Its output is
 * either captured into bounded memory buffers (hooks, providers; never a
 * file) or the caller's own stdio (backup --exec, quiesce run).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"

#define QZ_CHILD_OUTPUT_MAX (64 * 1024)

typedef struct qz_buf {
        char *data; /* NUL-terminated, or NULL when empty */
        size_t len;
        bool truncated; /* more was written than kept */
} qz_buf;

typedef struct qz_child_spec {
        /* What to run: argv[0] through PATH, or exec_fd (execveat, for hooks
         * checked through that descriptor) with argv, or fn in the child
         * (its return value is the exit status; what it prints is captured). */
        char *const *argv;
        int exec_fd; /* -1: none */
        int (*fn)(void *arg);
        void *arg;
        char *const *env_add; /* "NAME=VALUE" added to the environment, NULL-terminated, or NULL */
        const char *cwd;      /* its working directory; NULL: "/" ("." keeps the caller's) */
        /* Captured (the default): stdin /dev/null, stdout and stderr into
         * buffers, no descriptor of the caller's beyond 2. Inherited: the
         * caller's stdin, stdout, stderr and descriptors, nothing captured. */
        bool inherit_stdio;
        bool stdout_to_stderr;   /* inherit_stdio: its stdout is our stderr (our stdout is --json) */
        bool merge_stderr;       /* captured: stderr into the stdout buffer (hooks) */
        bool keep_pgroup;        /* stay in the caller's process group (a terminal's Ctrl-C reaches it) */
        const sigset_t *sigmask; /* its signal mask; NULL: none blocked, every disposition default */
        usec_t deadline;         /* qz_now(); at it SIGTERM, then SIGKILL; QZ_USEC_INFINITY none */
        usec_t kill_grace;       /* between SIGTERM and SIGKILL */
        usec_t reap_wait;        /* after SIGKILL, how long to wait for the exit before giving up */
        volatile sig_atomic_t *interrupted; /* treated like the deadline when set */
        /* inherit_stdio: descriptors (> 2) that become its stdin and stdout in
         * place of ours (a writer's --session helper's pipes); 0: ours */
        int stdin_fd, stdout_fd;
        int keep_fd; /* fn only: a descriptor (> 2) the child keeps open as fd 3; 0: none (the lvm
                        provider's job keeps quiesced's connection, so the hold outlives it) */
} qz_child_spec;

typedef struct qz_child_result {
        bool started;   /* fork and exec succeeded */
        int exec_errno; /* exec (or the chdir before it) failed with this */
        bool reaped;    /* it exited and was reaped; status valid */
        int status;     /* wait status */
        bool timed_out; /* the deadline passed (or interrupted) and it was signalled */
        bool interrupted;
        pid_t pid; /* still running after SIGKILL (blocked in the kernel): reap it later */
        usec_t duration;
        qz_buf out, err;
} qz_child_result;

/* Starts the child and waits until exec succeeded or failed. The child's
 * pid (> 0) with *exec_errno 0; or, when exec failed, the pid already reaped
 * and *exec_errno set; or -errno when it could not be forked. Captured
 * output needs qz_child_run(); use this with inherit_stdio. */
pid_t qz_child_spawn(const qz_child_spec *s, int *exec_errno);
/* "NAME=VALUE" for qz_child_spec.env_add (a NULL value: empty); free() it. */
char *qz_env_entry(const char *name, const char *value);
/* Runs the child to its end or its deadline. 0 (see *r), or -errno when it
 * could not even be forked. */
int qz_child_run(const qz_child_spec *s, qz_child_result *r);
void qz_child_result_done(qz_child_result *r);
/* Waits up to wait for pid (SIGKILLs its group first). true when reaped. */
bool qz_child_reap(pid_t pid, usec_t wait, int *status);
/* The first line of what the child printed on stderr (or, when it printed
 * nothing there, stdout), leading blanks trimmed, into buf. */
const char *qz_child_first_line(const qz_child_result *r, char *buf, size_t size);
/* "exit 0", "exit 3", "killed by SIGTERM", into buf. */
const char *qz_child_describe(const qz_child_result *r, char *buf, size_t size);
/* The exit status a shell gives it: its own, or 128 + the signal. */
int qz_child_exit_status(int wait_status);
