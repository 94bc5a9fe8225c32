/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jobs.c - the job model (freeing, names), the jobs directory
 * (/etc/quiesce/jobs.d, one NAME.conf per job) and what ties a job to its
 * snapshots: the manifest's "job", or for older manifests their names,
 * NAME-YYYYMMDDTHHMMSSZ.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "job.h"
#include "template.h"
#include "xalloc.h"

void qz_job_free(qz_job *j) {
        if (!j)
                return;
        free(j->name);
        free(j->file);
        free(j->description);
        free(j->schedule);
        free(j->store);
        free(j->metrics_dir);
        qz_strv_free(j->paths);
        free(j->provider);
        free(j->exec_cmd);
        free(j->exec_delete);
        free(j->lvm_size);
        free(j->hooks_dir);
        qz_strv_free(j->writers);
        free(j->archive_dir);
        free(j->archive_format);
        qz_strv_free(j->exec);
        qz_strv_free(j->exec_env);
        free(j);
}

bool qz_job_name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > QZ_JOB_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

char *qz_jobs_dir(const char *opt) {
        if (opt && *opt)
                return xstrdup(opt);
        const char *e = getenv(QZ_JOBS_DIR_ENV);
        return xstrdup(e && *e ? e : QZ_DEFAULT_JOBS_DIR);
}

int qz_job_load(const char *dir, const char *name, qz_job **ret, char **ret_error) {
        if (!qz_job_name_valid(name))
                return qz_error(ret_error, -EINVAL, "\"%s\" is not a job name", name);
        _cleanup_free_ char *file = xasprintf("%s/%s" QZ_JOB_SUFFIX, dir, name);
        int r = qz_job_parse_file(file, qz_calendar_check, ret, ret_error);
        if (r == -ENOENT)
                return qz_error(ret_error, r, "no job \"%s\" (%s does not exist)", name, file);
        return r;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int qz_jobs_names(const char *dir, char ***ret, size_t *n, char **ret_error) {
        *ret = NULL;
        *n = 0;
        DIR *d = opendir(dir);
        if (!d) {
                int r = -errno;
                if (r == -ENOENT) {
                        *ret = calloc(1, sizeof(char *));
                        if (!*ret)
                                abort();
                        return 0;
                }
                return qz_error(ret_error, r, "%s: %s", dir, strerror(-r));
        }
        char **v = calloc(1, sizeof(char *));
        size_t k = 0, sl = strlen(QZ_JOB_SUFFIX);
        struct dirent *de;
        while (v && (de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len <= sl || strcmp(de->d_name + len - sl, QZ_JOB_SUFFIX) != 0)
                        continue;
                char **nv = realloc(v, (k + 2) * sizeof(char *));
                if (!nv)
                        abort();
                v = nv;
                v[k++] = strndup(de->d_name, len - sl);
                v[k] = NULL;
        }
        closedir(d);
        if (!v)
                abort();
        qsort(v, k, sizeof(char *), cmp_names);
        *ret = v;
        *n = k;
        return 0;
}

void qz_job_snapshot_base(const qz_job *j, time_t t, char *buf, size_t size) {
        struct tm tm;
        gmtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(buf, size, "%s-%s", j->name, stamp);
}

/* NAME-YYYYMMDDTHHMMSSZ, optionally followed by -N (a second run in the
 * same second). */
static bool name_is_jobs(const char *job, const char *snap) {
        size_t n = strlen(job);
        if (strncmp(snap, job, n) != 0 || snap[n] != '-')
                return false;
        const char *s = snap + n + 1;
        static const char shape[] = "DDDDDDDDTDDDDDDZ";
        for (size_t i = 0; shape[i]; i++) {
                if (shape[i] == 'D' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
                        return false;
        }
        s += sizeof(shape) - 1;
        if (!*s)
                return true;
        if (*s != '-' || !s[1])
                return false;
        return strspn(s + 1, "0123456789") == strlen(s + 1);
}

bool qz_job_owns(const qz_job *j, const qz_manifest *m) {
        if (m->job)
                return strcmp(m->job, j->name) == 0;
        return name_is_jobs(j->name, m->name);
}
