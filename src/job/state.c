/* SPDX-License-Identifier: GPL-2.0-or-later */
/* state.c - what a job remembers of its runs, STORE/.job-NAME.state (JSON;
 * a dot file, which the manifest list skips): the last run, the last
 * success and the last consistent success, so `quiesce check` can judge a
 * job whose snapshots are deleted after their backup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "jsonutil.h"
#include "mkdirp.h"
#include "xalloc.h"

char *qz_job_state_path(const char *store, const char *name) {
        return xasprintf("%s/.job-%s.state", store, name);
}

static char *dup_or_null(json_object *o, const char *key) {
        const char *s = qz_json_get_string(o, key);
        return s ? xstrdup(s) : NULL;
}

int qz_job_state_load(const char *store, const char *name, qz_job_state *s) {
        memset(s, 0, sizeof(*s));
        _cleanup_free_ char *path = qz_job_state_path(store, name);
        json_object *o = json_object_from_file(path);
        if (!o) {
                if (access(path, F_OK) < 0 && errno == ENOENT)
                        return 0;
                return access(path, R_OK) < 0 ? -errno : -EBADMSG;
        }
        s->last_run = qz_json_int64_or(o, "last_run", 0);
        s->last_success = qz_json_int64_or(o, "last_success", 0);
        s->last_consistent = qz_json_int64_or(o, "last_consistent", 0);
        s->last_ok = qz_json_bool_or(o, "last_ok", false);
        s->last_snapshot = dup_or_null(o, "last_snapshot");
        s->last_consistent_snapshot = dup_or_null(o, "last_consistent_snapshot");
        s->last_consistent_label = dup_or_null(o, "last_consistent_label");
        s->last_target = dup_or_null(o, "last_target");
        s->last_writer_failure = dup_or_null(o, "last_writer_failure");
        json_object_put(o);
        return 0;
}

static void add_string(json_object *o, const char *key, const char *v) {
        if (v)
                json_object_object_add(o, key, json_object_new_string(v));
}

int qz_job_state_save(const char *store, const char *name, const qz_job_state *s) {
        int r = qz_mkdir_p(store, 0700, NULL);
        if (r < 0)
                return r;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "job", json_object_new_string(name));
        json_object_object_add(o, "last_run", json_object_new_int64(s->last_run));
        json_object_object_add(o, "last_ok", json_object_new_boolean(s->last_ok));
        json_object_object_add(o, "last_success", json_object_new_int64(s->last_success));
        json_object_object_add(o, "last_consistent", json_object_new_int64(s->last_consistent));
        add_string(o, "last_snapshot", s->last_snapshot);
        add_string(o, "last_consistent_snapshot", s->last_consistent_snapshot);
        add_string(o, "last_consistent_label", s->last_consistent_label);
        add_string(o, "last_target", s->last_target);
        add_string(o, "last_writer_failure", s->last_writer_failure);
        const char *text =
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *path = qz_job_state_path(store, name);
        _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                json_object_put(o);
                return -errno;
        }
        size_t len = strlen(text);
        r = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0 ? 0 : -errno;
        close(fd);
        json_object_put(o);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

void qz_job_state_done(qz_job_state *s) {
        free(s->last_snapshot);
        free(s->last_consistent_snapshot);
        free(s->last_consistent_label);
        free(s->last_target);
        free(s->last_writer_failure);
        memset(s, 0, sizeof(*s));
}
