/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job.c - the demo's act 7, a backup job: a job file for the demo's data
 * filesystem in its own jobs directory (never /etc), two runs through the
 * built `quiesce job run`, a `quiesce snapshot prune` that keeps one, and
 * `quiesce check` with its status line; what each step left is read back from
 * the store and the archive directory, and a step that did not do its part
 * fails the demo.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup.h"
#include "cleanup.h"
#include "demo.h"
#include "snapshot.h"
#include "xalloc.h"

#define JOB_NAME "demo"

struct job_paths {
        char *jobs, *file, *locks, *metrics, *archives;
};

static void job_paths_done(struct job_paths *p) {
        free(p->jobs);
        free(p->file);
        free(p->locks);
        free(p->metrics);
        free(p->archives);
}

static int write_job_file(const struct job_paths *p) {
        if (mkdir(p->jobs, 0755) < 0)
                return demo_fail("%s: %m", p->jobs);
        if (mkdir(p->locks, 0700) < 0)
                return demo_fail("%s: %m", p->locks);
        FILE *f = fopen(p->file, "we");
        if (!f)
                return demo_fail("%s: %m", p->file);
        fprintf(f,
                "# quiesce-demo's job: its data filesystem, archived (see man 5 quiesce-job)\n"
                "[job]\n"
                "description = the demo's ext4 data filesystem, to an archive directory\n"
                "store = %s\n"
                "metrics-dir = %s\n"
                "\n"
                "[snapshot]\n"
                "paths = %s\n"
                "provider = reflink\n"
                "hooks-dir = %s\n"
                "timeout = 5s\n"
                "\n"
                "[backup]\n"
                "archive-dir = %s\n"
                "format = tar.zst\n"
                "\n"
                "[retention]\n"
                "keep-last = 2\n",
                D.store, p->metrics, D.data, D.hooks, p->archives);
        if (fclose(f) != 0)
                return demo_fail("%s: %m", p->file);
        return 0;
}

static void show_file(const char *path) {
        char text[2048]; /* the job file above: well under it */
        FILE *f = fopen(path, "re");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
                fclose(f);
        text[n] = '\0';
        demo_indent(text);
}

/* The job's snapshots in the store, newest last (names sort by time). */
static size_t job_snapshots(char *names[], size_t max) {
        qz_manifest **v = NULL;
        size_t n = 0, k = 0;
        if (qz_manifest_list(D.store, &v, &n, NULL) < 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (v[i]->job && strcmp(v[i]->job, JOB_NAME) == 0 && k < max)
                        names[k++] = xstrdup(v[i]->name);
        qz_manifest_list_free(v, n);
        return k;
}

static void free_names(char *names[], size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
}

static size_t count_archives(const char *dir) {
        DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += strstr(de->d_name, ".tar.zst.manifest.json") != NULL;
        if (d)
                closedir(d);
        return n;
}

/* Runs a quiesce command and shows what it printed; its exit status, or -1. */
static int quiesce_shown(char *const *argv) {
        _cleanup_free_ char *out = NULL;
        int r = demo_run(argv, &out, true);
        demo_indent(out);
        return bk_interrupted() ? -1 : r;
}

static int runs(const struct job_paths *p, const char *sock, char *names[2]) {
        for (int i = 0; i < 2; i++) {
                int r = quiesce_shown((char *[]){D.quiesce, "--socket", (char *)sock, "job", "run", JOB_NAME,
                                                 "--jobs-dir", p->jobs, NULL});
                if (r != 0)
                        return r < 0 ? -1 : demo_fail("quiesce job run %s failed (%d)", JOB_NAME, r);
        }
        size_t n = job_snapshots(names, 2);
        if (n != 2) /* names are freed by the caller */
                return demo_fail("two runs of job %s left %zu snapshots in %s, not 2", JOB_NAME, n, D.store);
        demo_say("two runs: snapshots %s and %s in the store (keep-last = 2 keeps both), %zu archives in %s",
                 names[0], names[1], count_archives(p->archives), p->archives);
        return 0;
}

static int prune_to_one(const struct job_paths *p, char *names[2]) {
        int r = quiesce_shown((char *[]){D.quiesce, "snapshot", "prune", "--jobs-dir", p->jobs, "--job",
                                         JOB_NAME, "--keep-last", "1", NULL});
        if (r != 0)
                return r < 0 ? -1 : demo_fail("quiesce snapshot prune failed (%d)", r);
        r = quiesce_shown((char *[]){D.quiesce, "snapshot", "prune", "--archives", p->archives, "--job",
                                     JOB_NAME, "--keep-last", "1", NULL});
        if (r != 0)
                return r < 0 ? -1 : demo_fail("quiesce snapshot prune --archives failed (%d)", r);
        char *left[2] = {NULL, NULL};
        size_t n = job_snapshots(left, 2);
        bool ok = n == 1 && strcmp(left[0], names[1]) == 0 && !qz_manifest_exists(D.store, names[0]) &&
                  count_archives(p->archives) == 1;
        if (ok)
                demo_say("prune: %s removed (its reflink clone with it), %s kept; one archive left", names[0],
                         left[0]);
        free_names(left, n);
        return ok ? 0
                  : demo_fail("the prune did not keep exactly the newest snapshot and archive of job %s",
                              JOB_NAME);
}

static int check(const struct job_paths *p) {
        _cleanup_free_ char *out = NULL;
        int r = demo_run((char *[]){D.quiesce, "check", "--jobs-dir", p->jobs, "--job", JOB_NAME, "--warn",
                                    "1h", "--crit", "24h", NULL},
                         &out, true);
        demo_indent(out);
        if (bk_interrupted())
                return -1;
        demo_say("quiesce check exit status %d (Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)", r);
        static const char ok[] = "QUIESCE OK - job " JOB_NAME ": ";
        if (r != 0 || !out || strncmp(out, ok, sizeof(ok) - 1) != 0)
                return demo_fail("quiesce check did not say OK for job %s", JOB_NAME);
        return 0;
}

int demo_act_job(void) {
        int64_t t0 = qz_now_ms();
        struct job_paths p = {
                .jobs = xasprintf("%s/jobs.d", D.tmp),
                .file = xasprintf("%s/jobs.d/%s.conf", D.tmp, JOB_NAME),
                .locks = xasprintf("%s/locks", D.tmp),
                .metrics = xasprintf("%s/metrics", D.tmp),
                .archives = xasprintf("%s/archives", D.tmp),
        };
        demo_act("7. A backup job: a job file, two runs, a prune that keeps one, a check");
        char *names[2] = {NULL, NULL};
        _cleanup_free_ char *prom = xasprintf("%s/quiesce_job_%s.prom", p.metrics, JOB_NAME);
        int r = -1;
        /* every file the job makes stays in the demo's directory: its lock, the backup's mounts */
        if (setenv("QUIESCE_JOB_LOCK_DIR", p.locks, 1) < 0 || setenv("TMPDIR", D.tmp, 1) < 0 ||
            write_job_file(&p) < 0)
                goto out;
        demo_say("%s (what /etc/quiesce/jobs.d/%s.conf would hold):", p.file, JOB_NAME);
        show_file(p.file);
        if (runs(&p, D.socket ? D.socket : QZ_DEFAULT_SOCKET, names) < 0)
                goto out;
        if (prune_to_one(&p, names) < 0 || check(&p) < 0)
                goto out;
        struct stat st;
        if (stat(prom, &st) < 0) {
                demo_fail("%s: %m (the run's Prometheus metrics)", prom);
                goto out;
        }
        char d[32];
        demo_say("metrics for the node exporter: %s; the act took %s", prom,
                 qz_format_duration(qz_now_ms() - t0, d, sizeof(d)));
        r = 0;
out:
        free_names(names, 2);
        job_paths_done(&p);
        return r;
}
