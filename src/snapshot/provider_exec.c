/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider_exec.c - the exec provider: a user's command per filesystem (an
 * argv template, never a shell string) under its own timeout inside the
 * freeze deadline; the first line it prints is the snapshot's location.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "error.h"
#include "provider.h"
#include "template.h"

#define EXEC_DELETE_TIMEOUT_MS 60000

/* The template with t's values; NULL and a message on an unknown placeholder. */
static char **build_argv(const char *tmpl, const char *name, const char *device, const char *mountpoint,
                         const char *fstype, const char *id, const char *location, char **ret_error) {
        const qz_placeholder vars[] = {{"device", device}, {"mountpoint", mountpoint},
                                       {"fstype", fstype}, {"name", name},
                                       {"id", id},         {"location", location}};
        size_t n_vars = location ? 6 : 5, n;
        char **v = qz_template_split(tmpl, &n);
        if (n == 0) {
                qz_set_error(ret_error, "the command template is empty");
                qz_strv_free(v);
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                char *bad;
                char *s = qz_template_substitute(v[i], vars, n_vars, &bad);
                if (!s) {
                        qz_set_error(ret_error,
                                     "unknown placeholder %s in '%s' (known: {device} {mountpoint} "
                                     "{fstype} {name} {id}%s)",
                                     bad ? bad : "?", tmpl, location ? " {location}" : "");
                        free(bad);
                        qz_strv_free(v);
                        return NULL;
                }
                free(v[i]);
                v[i] = s;
        }
        return v;
}

static int check(qz_snap_ctx *ctx, qz_target *t, char **ret_error) {
        const char *tmpl = ctx->opts->exec_cmd;
        if (!tmpl || !*tmpl) {
                qz_set_error(ret_error, "%s: the exec provider needs --exec-cmd TEMPLATE", t->path);
                return -EINVAL;
        }
        _cleanup_free_ char *msg = NULL;
        char **v = build_argv(tmpl, ctx->name, t->source, t->mountpoint, t->fstype, t->id, NULL, &msg);
        if (!v) {
                qz_set_error(ret_error, "--exec-cmd: %s", msg);
                return -EINVAL;
        }
        qz_strv_free(v);
        if (ctx->opts->exec_delete) {
                v = build_argv(ctx->opts->exec_delete, ctx->name, t->source, t->mountpoint, t->fstype, t->id,
                               "", &msg);
                if (!v) {
                        qz_set_error(ret_error, "--exec-delete: %s", msg);
                        return -EINVAL;
                }
                qz_strv_free(v);
        }
        return 0;
}

static void take(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, usec_t deadline, pid_t *pending) {
        char *msg = NULL;
        char **argv = build_argv(ctx->opts->exec_cmd, ctx->name, t->source, t->mountpoint, t->fstype, t->id,
                                 NULL, &msg);
        if (!argv) {
                f->error = msg;
                return;
        }
        usec_t limit = deadline;
        if (ctx->opts->exec_timeout_ms > 0) {
                usec_t own = qz_now() + (usec_t)ctx->opts->exec_timeout_ms * USEC_PER_MSEC;
                if (own < limit)
                        limit = own;
        }
        char *env[] = {qz_env_entry("QUIESCE_SNAPSHOT_NAME", ctx->name),
                       qz_env_entry("QUIESCE_DEVICE", t->source),
                       qz_env_entry("QUIESCE_MOUNTPOINT", t->mountpoint),
                       qz_env_entry("QUIESCE_FSTYPE", t->fstype), NULL};
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .env_add = env,
                           .merge_stderr = false,
                           .deadline = limit,
                           .kill_grace = ctx->kill_grace,
                           .reap_wait = ctx->reap_wait,
                           .interrupted = ctx->opts->interrupted};
        qz_child_result r;
        usec_t now = qz_now();
        int64_t budget_ms =
                limit != QZ_USEC_INFINITY && limit > now ? (int64_t)((limit - now) / USEC_PER_MSEC) : 0;
        int e = qz_child_run(&s, &r);
        for (size_t i = 0; env[i]; i++)
                free(env[i]);
        if (e < 0) {
                if (asprintf(&f->error, "cannot run %s: %s", argv[0], strerror(-e)) < 0)
                        abort();
                qz_strv_free(argv);
                return;
        }
        if (!r.reaped)
                *pending = r.pid;
        /* the report keeps what it printed: stdout, then stderr */
        if (r.out.len || r.err.len) {
                if (asprintf(&f->output, "%s%s", r.out.data ? r.out.data : "", r.err.data ? r.err.data : "") <
                    0)
                        abort();
        }
        const char *out = r.out.data ? r.out.data : "";
        _cleanup_free_ char *loc = strndup(out, strcspn(out, "\n")); /* its first line */
        if (!loc)
                abort();
        char d[96], db[32];
        int rc = 0;
        if (!r.started)
                rc = asprintf(&f->error, "%s: %s", argv[0], strerror(r.exec_errno));
        else if (r.interrupted)
                rc = asprintf(&f->error, "interrupted; %s killed", argv[0]);
        else if (r.timed_out)
                rc = asprintf(&f->error, "%s did not finish within its time limit of %s; killed (%s)",
                              argv[0], qz_format_duration(budget_ms, db, sizeof(db)),
                              qz_child_describe(&r, d, sizeof(d)));
        else if (!r.reaped || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
                rc = asprintf(&f->error, "%s failed: %s", argv[0], qz_child_describe(&r, d, sizeof(d)));
        else if (!loc[0])
                rc = asprintf(&f->error, "%s printed no location on its first line", argv[0]);
        else
                f->snapshot = TAKE_PTR(loc);
        if (rc < 0)
                abort();
        qz_strv_free(argv);
        qz_child_result_done(&r);
}

static void finish(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f) {
        int64_t size = qz_snapshot_size_of(f->snapshot); /* a file or a device the command named */
        if (size >= 0)
                f->size_bytes = size;
}

static int remove_(const qz_manifest *m, const qz_snap_fs *f, char **ret_error) {
        if (!f->snapshot)
                return 0;
        if (!m->exec_delete) {
                qz_set_error(ret_error, "%s: made by the exec provider without --exec-delete; not removed",
                             f->snapshot);
                return -ENOTSUP;
        }
        _cleanup_free_ char *msg = NULL;
        char **argv = build_argv(m->exec_delete, m->name, f->source, f->mountpoint, f->fstype, f->id,
                                 f->snapshot, &msg);
        if (!argv) {
                qz_set_error(ret_error, "exec_delete: %s", msg);
                return -EINVAL;
        }
        qz_child_spec s = {.argv = argv,
                           .exec_fd = -1,
                           .merge_stderr = true,
                           .deadline = qz_now() + (usec_t)EXEC_DELETE_TIMEOUT_MS * USEC_PER_MSEC,
                           .kill_grace = 2000 * USEC_PER_MSEC,
                           .reap_wait = 2000 * USEC_PER_MSEC};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        int ret = 0;
        char d[96];
        if (e < 0) {
                qz_set_error(ret_error, "cannot run %s: %s", argv[0], strerror(-e));
                ret = e;
        } else if (!r.started || !r.reaped || r.timed_out || !WIFEXITED(r.status) ||
                   WEXITSTATUS(r.status) != 0) {
                char o[512];
                snprintf(o, sizeof(o), "%s", r.out.data ? r.out.data : "");
                o[strcspn(o, "\n")] = '\0';
                qz_set_error(ret_error, "%s (deleting %s): %s%s%s", argv[0], f->snapshot,
                             r.timed_out ? "timed out" : qz_child_describe(&r, d, sizeof(d)), *o ? ": " : "",
                             o);
                ret = -EIO;
        }
        if (e == 0)
                qz_child_result_done(&r);
        qz_strv_free(argv);
        return ret;
}

/* Only a location that is an absolute path can be checked: that it exists. */
static qz_snap_state verify(const qz_manifest *m, const qz_snap_fs *f, char **ret_why) {
        if (f->snapshot[0] != '/') {
                qz_set_error(ret_why, "%s is not a path; the exec provider's snapshot cannot be checked",
                             f->snapshot);
                return QZ_SNAP_UNKNOWN;
        }
        struct stat st;
        qz_snap_state s;
        if (!qz_verify_stat(f->snapshot, true, &st, &s, ret_why))
                return s;
        qz_set_error(ret_why, "%s exists", f->snapshot);
        return QZ_SNAP_INTACT;
}

const qz_provider qz_provider_exec = {
        .name = "exec",
        .freezes = true,
        .check = check,
        .take = take,
        .finish = finish,
        .remove = remove_,
        .verify = verify,
};
