/* SPDX-License-Identifier: GPL-2.0-or-later */
/* child.h - running a child process under a deadline: its own process
 * group, stdout/stderr captured into bounded memory buffers (never a file),
 * SIGTERM then SIGKILL at the deadline, and never an unbounded wait.
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
        char *const *env_add;  /* "NAME=VALUE" added to the environment, NULL-terminated, or NULL */
        bool merge_stderr;     /* stderr into the stdout buffer (hooks) */
        int64_t deadline_ms;   /* CLOCK_BOOTTIME; at it SIGTERM, then SIGKILL; -1 none */
        int64_t kill_grace_ms; /* between SIGTERM and SIGKILL */
        int64_t reap_wait_ms;  /* after SIGKILL, how long to wait for the exit before giving up */
        volatile sig_atomic_t *interrupted; /* treated like the deadline when set */
        int keep_fd; /* fn only: a descriptor (> 2) the child keeps open as fd 3; 0: none (the lvm
                        provider's job keeps quiesced's connection, so the hold outlives it) */
} qz_child_spec;

typedef struct qz_child_result {
        bool started;   /* fork and exec succeeded */
        int exec_errno; /* exec failed with this */
        bool reaped;    /* it exited and was reaped; status valid */
        int status;     /* wait status */
        bool timed_out; /* the deadline passed (or interrupted) and it was signalled */
        bool interrupted;
        pid_t pid; /* still running after SIGKILL (blocked in the kernel): reap it later */
        int64_t duration_ms;
        qz_buf out, err;
} qz_child_result;

/* Runs the child to its end or its deadline. 0 (see *r), or -errno when it
 * could not even be forked. */
int qz_child_run(const qz_child_spec *s, qz_child_result *r);
void qz_child_result_done(qz_child_result *r);
/* Waits up to wait_ms for pid (SIGKILLs its group first). true when reaped. */
bool qz_child_reap(pid_t pid, int64_t wait_ms, int *status);
/* The first line of what the child printed on stderr (or, when it printed
 * nothing there, stdout), leading blanks trimmed, into buf. */
const char *qz_child_first_line(const qz_child_result *r, char *buf, size_t size);
/* "exit 0", "exit 3", "killed by SIGTERM", into buf. */
const char *qz_child_describe(const qz_child_result *r, char *buf, size_t size);
