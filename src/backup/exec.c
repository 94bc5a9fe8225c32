/* SPDX-License-Identifier: GPL-2.0-or-later */
/* exec.c - `--exec CMD ARG... --`: the user's command run once per mounted
 * snapshot, no shell, placeholders substituted per argument, cwd at the
 * snapshot; killed (SIGTERM, then SIGKILL) when the backup is interrupted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "child.h"

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

static char *env_var(const char *k, const char *v) {
        char *s;
        if (asprintf(&s, "%s=%s", k, v ? v : "") < 0)
                abort();
        return s;
}

int bk_exec_run(char *const *argv, size_t argc, const struct bk_exec_vars *v, char *err, size_t errlen) {
        char **args = calloc(argc + 1, sizeof(char *));
        if (!args)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; i < argc && r == 0; i++)
                if (!(args[i] = bk_exec_substitute(argv[i], v)))
                        r = -ENOMEM;
        char *env[] = {env_var("QUIESCE_SNAPSHOT_PATH", v->path),
                       env_var("QUIESCE_SNAPSHOT_MOUNTPOINT", v->mountpoint),
                       env_var("QUIESCE_SNAPSHOT_NAME", v->name), env_var("QUIESCE_SNAPSHOT_LABEL", v->label),
                       NULL};
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
                        snprintf(err, errlen, "%s: %s", args[0], strerror(res.exec_errno));
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
