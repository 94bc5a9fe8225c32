/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exec.c - `--exec CMD ARG... --`: the user's command run once per mounted
 * snapshot, no shell, placeholders substituted per argument (template.h:
 * an unknown one is refused), cwd at the snapshot; killed (SIGTERM, then
 * SIGKILL) when the backup is interrupted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "child.h"
#include "error.h"
#include "template.h"

#define KILL_GRACE_MS 5000

/* The placeholders of --exec (template.h: an unknown one is refused). */
static size_t exec_vars(const struct bk_exec_vars *v, qz_placeholder vars[5]) {
        vars[0] = (qz_placeholder){"path", v ? v->path : NULL};
        vars[1] = (qz_placeholder){"mountpoint", v ? v->mountpoint : NULL};
        vars[2] = (qz_placeholder){"fstype", v ? v->fstype : NULL};
        vars[3] = (qz_placeholder){"name", v ? v->name : NULL};
        vars[4] = (qz_placeholder){"label", v ? v->label : NULL};
        return 5;
}

char *bk_exec_unknown_placeholder(char *const *argv, size_t argc) {
        qz_placeholder vars[5];
        size_t n = exec_vars(NULL, vars);
        return qz_template_unknown(argv, argc, vars, n);
}

int bk_exec_run(char *const *argv, size_t argc, const struct bk_exec_vars *v, char **ret_error) {
        char **args = calloc(argc + 1, sizeof(char *));
        if (!args)
                return -ENOMEM;
        qz_placeholder vars[5];
        size_t n_vars = exec_vars(v, vars);
        int r = 0;
        for (size_t i = 0; i < argc && r == 0; i++) {
                char *bad;
                if (!(args[i] = qz_template_substitute(argv[i], vars, n_vars, &bad))) {
                        qz_set_error(ret_error, "unknown placeholder %s in '%s'", bad, argv[i]);
                        free(bad);
                        r = -EINVAL;
                }
        }
        char *env[] = {qz_env_entry("QUIESCE_SNAPSHOT_PATH", v->path),
                       qz_env_entry("QUIESCE_SNAPSHOT_MOUNTPOINT", v->mountpoint),
                       qz_env_entry("QUIESCE_SNAPSHOT_NAME", v->name),
                       qz_env_entry("QUIESCE_SNAPSHOT_LABEL", v->label), NULL};
        /* Our stdio and our process group (Ctrl-C reaches it as it reaches us); no deadline. */
        qz_child_spec s = {.argv = args,
                           .exec_fd = -1,
                           .env_add = env,
                           .cwd = v->path,
                           .inherit_stdio = true,
                           .stdout_to_stderr = v->stdout_to_stderr,
                           .keep_pgroup = true,
                           .deadline = QZ_USEC_INFINITY,
                           .kill_grace = KILL_GRACE_MS * USEC_PER_MSEC,
                           .reap_wait = KILL_GRACE_MS * USEC_PER_MSEC,
                           .interrupted = bk_interrupt_flag()};
        qz_child_result res;
        if (r == 0)
                r = qz_child_run(&s, &res);
        if (r == 0) {
                if (!res.reaped)
                        bk_cleanup_push(BK_CHILD, NULL,
                                        res.pid); /* blocked in the kernel: reaped at the end */
                if (!res.started) {
                        qz_set_error(ret_error, "%s: %s", args[0], strerror(res.exec_errno));
                        r = res.exec_errno == ENOENT ? -ENOENT : -EACCES;
                } else if (res.interrupted || bk_interrupted())
                        r = -EINTR;
                else
                        r = res.reaped ? res.status : -EIO;
                qz_child_result_done(&res);
        }
        for (size_t i = 0; env[i]; i++)
                free(env[i]);
        for (size_t i = 0; i < argc; i++)
                free(args[i]);
        free(args);
        return r;
}
