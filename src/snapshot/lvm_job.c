/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lvm_job.c - the LVM provider's commands (lvm.h): one LVM command run to
 * its end, and the job (suspend, lvcreate, resume if still suspended) that
 * runs in a child of its own so the origin is resumed on every path; see
 * provider_lvm.c for why.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "dm.h"
#include "error.h"
#include "lvm.h"
#include "provider.h"

char *const lvm_env[] = {"LVM_SUPPRESS_FD_WARNINGS=1", NULL};

int lvm_run(char *const *argv, int64_t timeout_ms, int64_t grace_ms, qz_child_result *r) {
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .env_add = lvm_env,
                           .merge_stderr = false,
                           .deadline = qz_now() + (usec_t)timeout_ms * USEC_PER_MSEC,
                           .kill_grace = (usec_t)grace_ms * USEC_PER_MSEC,
                           .reap_wait = 2000 * USEC_PER_MSEC};
        return qz_child_run(&s, r);
}

bool lvm_exited_ok(const qz_child_result *r) {
        return r->started && r->reaped && !r->timed_out && WIFEXITED(r->status) &&
               WEXITSTATUS(r->status) == 0;
}

/* ---- the job: suspend (classic) -> lvcreate -> resume if still suspended */

static volatile sig_atomic_t job_stop;

static void job_on_term(int sig) {
        (void)sig;
        job_stop = 1;
}

/* dmsetup VERB [--nolockfs] NAME, bounded; 0 or why in msg. */
static int job_dmsetup(const char *verb, bool nolockfs, const char *dm, char *msg, size_t size, int64_t *ms) {
        char *argv[] = {"dmsetup",
                        (char *)verb,
                        "--noudevsync",
                        nolockfs ? "--nolockfs" : (char *)dm,
                        nolockfs ? (char *)dm : NULL,
                        NULL};
        qz_child_result r;
        int e = lvm_run(argv, DM_STEP_TIMEOUT_MS, 2000, &r);
        if (e < 0) {
                snprintf(msg, size, "cannot run dmsetup: %s", strerror(-e));
                return e;
        }
        char d[96], line[256];
        int ret = 0;
        *ms = (int64_t)(r.duration / USEC_PER_MSEC);
        if (!lvm_exited_ok(&r)) {
                snprintf(msg, size, "%s: %s", r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)),
                         qz_child_first_line(&r, line, sizeof(line)));
                ret = -EIO;
                if (!r.reaped)
                        qz_child_reap(r.pid, 2000 * USEC_PER_MSEC, NULL);
        }
        qz_child_result_done(&r);
        return ret;
}

/* In the child (its own process group; fd 3: quiesced's connection, kept
 * until we exit). Prints what it did on stdout ("error: ..." for the
 * reason of a failure), lvcreate's output on stderr. */
int lvm_job_main(void *arg) {
        const struct job *j = arg;
        struct sigaction sa = {.sa_handler = SIG_IGN};
        sigemptyset(&sa.sa_mask);
        const int ignored[] = {SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU};
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
                sigaction(ignored[i], &sa, NULL);
        sa.sa_handler = job_on_term;
        sigaction(SIGTERM, &sa, NULL);

        char msg[512], d[96];
        int64_t ms = 0;
        int rc = JOB_OK;
        if (j->presuspend) {
                if (job_dmsetup("suspend", true, j->dm, msg, sizeof(msg), &ms) < 0) {
                        printf("error: dmsetup suspend --nolockfs %s failed (%s)\n", j->dm, msg);
                        rc = JOB_SUSPEND_FAILED;
                } else
                        printf("dmsetup suspend --nolockfs %s: %lld ms (the filesystem is frozen by "
                               "quiesce)\n",
                               j->dm, (long long)ms);
        }
        if (rc == JOB_OK && job_stop) {
                printf("error: interrupted before lvcreate\n");
                rc = JOB_INTERRUPTED;
        }
        if (rc == JOB_OK) {
                qz_child_spec s = {.argv = j->argv,
                                   .exec_fd = -1,
                                   .env_add = lvm_env,
                                   .merge_stderr = false,
                                   .deadline = j->lvcreate_deadline,
                                   .kill_grace = LVM_KILL_GRACE_MS * USEC_PER_MSEC,
                                   .reap_wait = 2000 * USEC_PER_MSEC,
                                   .interrupted = &job_stop};
                qz_child_result r;
                int e = qz_child_run(&s, &r);
                if (e < 0) {
                        printf("error: cannot run lvcreate: %s\n", strerror(-e));
                        rc = JOB_LVCREATE_FAILED;
                } else {
                        fprintf(stderr, "%s%s", r.out.data ? r.out.data : "", r.err.data ? r.err.data : "");
                        if (!r.started) {
                                printf("error: lvcreate: %s\n", strerror(r.exec_errno));
                                rc = JOB_LVCREATE_FAILED;
                        } else if (r.timed_out) {
                                printf("error: lvcreate --snapshot %s (%s); check for a partial snapshot "
                                       "with lvs\n",
                                       r.interrupted ? "interrupted" : "did not finish in time",
                                       qz_child_describe(&r, d, sizeof(d)));
                                rc = JOB_LVCREATE_STOPPED;
                        } else if (!lvm_exited_ok(&r)) {
                                printf("error: lvcreate --snapshot failed (%s): %s\n",
                                       qz_child_describe(&r, d, sizeof(d)),
                                       qz_child_first_line(&r, msg, sizeof(msg)));
                                rc = JOB_LVCREATE_FAILED;
                        } else
                                printf("lvcreate: %lld ms\n", (long long)(r.duration / USEC_PER_MSEC));
                        if (!r.reaped)
                                rc = JOB_LVCREATE_STOPPED; /* blocked in the kernel: reaped below */
                        qz_child_result_done(&r);
                        if (!r.reaped) {
                                /* probably on the suspended origin: the resume below releases it */
                                pid_t pid = r.pid;
                                int sus = qz_dm_suspended(j->dev);
                                if (sus == 1)
                                        job_dmsetup("resume", false, j->dm, msg, sizeof(msg), &ms);
                                qz_child_reap(pid, 5000 * USEC_PER_MSEC, NULL);
                        }
                }
        }
        /* Whatever happened: the origin is not left suspended. */
        int sus = qz_dm_suspended(j->dev);
        if (sus == 1) {
                int e = job_dmsetup("resume", false, j->dm, msg, sizeof(msg), &ms);
                if (e < 0 && qz_dm_suspended(j->dev) == 1)
                        e = job_dmsetup("resume", false, j->dm, msg, sizeof(msg), &ms);
                if (e < 0 && qz_dm_suspended(j->dev) == 1) {
                        printf("error: %s is STILL SUSPENDED: dmsetup resume failed (%s); run 'dmsetup "
                               "resume %s'\n",
                               j->dm, msg, j->dm);
                        rc |= JOB_STILL_SUSPENDED;
                } else
                        printf("%s was still suspended after lvcreate: resumed (dmsetup resume, %lld ms)\n",
                               j->dm, (long long)ms);
        } else if (sus == 0 && j->presuspend && rc != JOB_SUSPEND_FAILED)
                printf("%s resumed by lvcreate\n", j->dm);
        else if (sus < 0) {
                printf("error: cannot tell whether %s is suspended (%s)\n", j->dm, strerror(-sus));
                rc |= JOB_STILL_SUSPENDED;
        }
        fflush(stdout);
        fflush(stderr);
        return rc;
}
