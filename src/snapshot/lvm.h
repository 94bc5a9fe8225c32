/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lvm.h - what the LVM provider's two files share (private to
 * src/snapshot): provider_lvm.c (check, take, remove, verify) and lvm_job.c
 * (running LVM commands; the job that suspends, runs lvcreate and resumes).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "child.h"

#define LVM_QUERY_TIMEOUT_MS 30000  /* lvs */
#define LVM_CREATE_MIN_MS 120000    /* lvcreate is not stopped sooner: it suspends and resumes the origin */
#define LVM_REMOVE_TIMEOUT_MS 60000 /* lvremove */
#define DM_STEP_TIMEOUT_MS 30000    /* dmsetup suspend --nolockfs, dmsetup resume */
#define LVM_KILL_GRACE_MS 10000     /* lvcreate: SIGTERM, then SIGKILL after this */
/* lvcreate must not scan a suspended device (a read would block until the resume) */
#define LVM_CREATE_CONFIG "devices { ignore_suspended_devices = 1 }"
#define LVM_DEFAULT_EXTENTS "20%ORIGIN"
#define LVM_NAME_MAX 127

struct lv {
        char vg[LVM_NAME_MAX + 1];
        char lv[LVM_NAME_MAX + 1];
        char segtype[32];
        char origin[LVM_NAME_MAX + 1];
};

extern char *const lvm_env[]; /* added to every LVM command's environment */

/* Runs an LVM command to its end (or limit); 0 with its output in *r, or -errno. */
int lvm_run(char *const *argv, int64_t timeout_ms, int64_t grace_ms, qz_child_result *r);
bool lvm_exited_ok(const qz_child_result *r);

struct job {
        char **argv;    /* lvcreate ... */
        const char *dm; /* the origin's device-mapper name */
        dev_t dev;
        bool presuspend;          /* dmsetup suspend --nolockfs first (classic, frozen by quiesce) */
        usec_t lvcreate_deadline; /* then SIGTERM, SIGKILL LVM_KILL_GRACE_MS later */
};

enum {
        JOB_OK = 0,
        JOB_SUSPEND_FAILED = 10,
        JOB_LVCREATE_FAILED = 11,
        JOB_LVCREATE_STOPPED = 12, /* timed out or interrupted */
        JOB_INTERRUPTED = 13,      /* before lvcreate */
        JOB_STILL_SUSPENDED = 32,  /* added: the origin could not be resumed */
};

/* The job, in its child (qz_child_spec.fn): see provider_lvm.c's comment. */
int lvm_job_main(void *arg);
