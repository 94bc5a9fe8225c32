/* SPDX-License-Identifier: GPL-2.0-or-later */
/* calendar.c - a job's schedule, checked by systemd's own calendar parser:
 * libsystemd does not export it, so `systemd-analyze calendar EXPR` runs
 * (through the one child runner, a short deadline). The timer that will use
 * the expression is systemd's, so its parser is the judge.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "error.h"
#include "job.h"
#include "xalloc.h"

#define CALENDAR_TIMEOUT_USEC (5 * USEC_PER_SEC)

static int analyze(const char *expr, qz_child_result *r) {
        char *const argv[] = {(char *)"systemd-analyze",
                              (char *)"calendar",
                              (char *)"--iterations=1",
                              (char *)"--",
                              (char *)expr,
                              NULL};
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .deadline = qz_now() + CALENDAR_TIMEOUT_USEC,
                           .kill_grace = USEC_PER_SEC,
                           .reap_wait = USEC_PER_SEC};
        return qz_child_run(&s, r);
}

int qz_calendar_check(const char *expr, char **ret_error) {
        qz_child_result r;
        int e = analyze(expr, &r);
        if (e < 0)
                return qz_error(ret_error, e, "cannot run systemd-analyze: %s", strerror(-e));
        int ret = 0;
        if (!r.started && r.exec_errno == ENOENT)
                ret = 0; /* no systemd here: accepted, the timer will judge (docs/jobs.md) */
        else if (!r.reaped || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
                char line[512];
                const char *why = qz_child_first_line(&r, line, sizeof(line));
                /* "Failed to parse calendar specification 'x': Invalid argument" */
                ret = qz_error(ret_error, -EINVAL, "%s",
                               why && *why ? why : "systemd-analyze calendar refused it");
        }
        qz_child_result_done(&r);
        return ret;
}

char *qz_calendar_next(const char *expr) {
        qz_child_result r;
        if (analyze(expr, &r) < 0)
                return NULL;
        char *next = NULL;
        if (r.reaped && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && r.out.data) {
                const char *p = strstr(r.out.data, "Next elapse:");
                if (p) {
                        p += strlen("Next elapse:");
                        p += strspn(p, " ");
                        next = strndup(p, strcspn(p, "\n"));
                }
        }
        qz_child_result_done(&r);
        return next;
}
