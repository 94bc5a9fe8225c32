/* SPDX-License-Identifier: GPL-2.0-or-later */
/* metrics.c - a job's Prometheus metrics in the text exposition format, one
 * file per job for the node exporter's textfile collector
 * (METRICS_DIR/quiesce_job_NAME.prom), written to a temporary file and
 * renamed, so the collector never reads half a file. Names follow the
 * Prometheus conventions: base units (_seconds, _bytes), _timestamp_seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "mkdirp.h"
#include "jobrun.h"
#include "xalloc.h"

/* A label value escaped for the text format: \ " and newline. */
static char *escape(const char *s) {
        char *out = malloc(strlen(s) * 2 + 1), *p = out;
        if (!out)
                abort();
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        *p++ = '\\';
                if (*s == '\n') {
                        *p++ = '\\';
                        *p++ = 'n';
                        continue;
                }
                *p++ = *s;
        }
        *p = '\0';
        return out;
}

static void family(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A value as a person would write it: 1796186518, 0.098 (not 0.098000000000000004). */
static void value(FILE *f, double v) {
        if (v == (double)(int64_t)v)
                fprintf(f, "%" PRId64 "\n", (int64_t)v);
        else
                fprintf(f, "%.9g\n", v);
}

static void sample(FILE *f, const char *name, const char *job, double v) {
        fprintf(f, "%s{job=\"%s\"} ", name, job);
        value(f, v);
}

char *qz_job_metrics_text(const qz_job *j, const qz_job_run *run, const qz_job_state *st) {
        _cleanup_free_ char *job = escape(j->name);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                abort();
        const qz_manifest *m = run->snapshot;
        family(f, "quiesce_job_last_run_timestamp_seconds", "gauge", "When the job last ran (unix time).");
        sample(f, "quiesce_job_last_run_timestamp_seconds", job, (double)st->last_run);
        family(f, "quiesce_job_last_run_success", "gauge", "1 when the job's last run succeeded, else 0.");
        sample(f, "quiesce_job_last_run_success", job, run->ok ? 1 : 0);
        family(f, "quiesce_job_last_success_timestamp_seconds", "gauge",
               "When the job last succeeded (unix time; 0 never).");
        sample(f, "quiesce_job_last_success_timestamp_seconds", job, (double)st->last_success);
        family(f, "quiesce_job_last_consistent_success_timestamp_seconds", "gauge",
               "When the job last made a consistent (not crash-consistent) snapshot (unix time; 0 never).");
        sample(f, "quiesce_job_last_consistent_success_timestamp_seconds", job, (double)st->last_consistent);
        family(f, "quiesce_job_last_label", "gauge",
               "The consistency label of the last run's snapshot: 1 for its label, 0 for the others.");
        for (qz_label l = QZ_LABEL_APPLICATION; l <= QZ_LABEL_CRASH; l++)
                fprintf(f, "quiesce_job_last_label{job=\"%s\",label=\"%s\"} %d\n", job, qz_label_name(l),
                        m && run->label == l);
        if (run->n_writers) {
                family(f, "quiesce_job_writer_registered", "gauge",
                       "1 when the job's writer was registered with quiesced for the job's filesystems as "
                       "the last run began, else 0.");
                for (size_t i = 0; i < run->n_writers; i++) {
                        _cleanup_free_ char *w = escape(run->writers[i].name);
                        fprintf(f, "quiesce_job_writer_registered{job=\"%s\",writer=\"%s\"} %d\n", job, w,
                                run->writers[i].registered == 1);
                }
                family(f, "quiesce_job_writer_acknowledged", "gauge",
                       "1 when the job's writer acknowledged the freeze of the last run's snapshot, else 0.");
                for (size_t i = 0; i < run->n_writers; i++) {
                        _cleanup_free_ char *w = escape(run->writers[i].name);
                        fprintf(f, "quiesce_job_writer_acknowledged{job=\"%s\",writer=\"%s\"} %d\n", job, w,
                                run->writers[i].judged && run->writers[i].acknowledged);
                }
        }
        family(f, "quiesce_job_duration_seconds", "gauge", "How long the job's last run took.");
        sample(f, "quiesce_job_duration_seconds", job, (double)run->duration_ms / 1000.0);
        if (m) {
                family(f, "quiesce_job_frozen_seconds", "gauge",
                       "How long the last run's filesystems were frozen (0: not frozen).");
                sample(f, "quiesce_job_frozen_seconds", job,
                       m->frozen_ms > 0 ? (double)m->frozen_ms / 1000.0 : 0);
                family(f, "quiesce_job_stall_seconds", "gauge",
                       "The last run's freeze stall per filesystem: how long writes were blocked by "
                       "FIFREEZE.");
                for (size_t i = 0; i < m->n_fs; i++) {
                        _cleanup_free_ char *mp = escape(m->fs[i].mountpoint);
                        fprintf(f, "quiesce_job_stall_seconds{job=\"%s\",mountpoint=\"%s\"} ", job, mp);
                        value(f, m->fs[i].stall_ms > 0 ? (double)m->fs[i].stall_ms / 1000.0 : 0);
                }
        }
        if (run->backed_up) {
                uint64_t bytes = 0, files = 0;
                for (size_t i = 0; m && i < m->n_fs; i++) {
                        bytes += run->backup.fs[i].counts.bytes;
                        files += run->backup.fs[i].counts.files;
                }
                family(f, "quiesce_job_backup_bytes", "gauge",
                       "File data the last run's archive holds (0 for a backup command).");
                sample(f, "quiesce_job_backup_bytes", job, (double)bytes);
                family(f, "quiesce_job_backup_files", "gauge", "Regular files in the last run's archive.");
                sample(f, "quiesce_job_backup_files", job, (double)files);
                family(f, "quiesce_job_archive_bytes", "gauge", "The size of the last run's archive file.");
                sample(f, "quiesce_job_archive_bytes", job, (double)run->backup.archive_bytes);
        }
        if (run->kept >= 0) {
                family(f, "quiesce_job_snapshots", "gauge",
                       "The job's snapshots in its store after the last run.");
                sample(f, "quiesce_job_snapshots", job, (double)run->kept);
        }
        if (run->pruned >= 0) {
                family(f, "quiesce_job_snapshots_pruned", "gauge",
                       "Snapshots the last run's retention deleted.");
                sample(f, "quiesce_job_snapshots_pruned", job, run->pruned);
        }
        if (run->pruned_archives >= 0) {
                family(f, "quiesce_job_archives_pruned", "gauge",
                       "Archives the last run's retention deleted.");
                sample(f, "quiesce_job_archives_pruned", job, run->pruned_archives);
        }
        fclose(f);
        return text;
}

int qz_job_metrics_write(const qz_job *j, const char *text, char **ret_path, char **ret_error) {
        const char *dir = j->metrics_dir ? j->metrics_dir : QZ_DEFAULT_METRICS_DIR;
        int r = qz_mkdir_p(dir, 0755, NULL);
        if (r < 0)
                return qz_error(ret_error, r, "%s: %s", dir, strerror(-r));
        _cleanup_free_ char *path = xasprintf("%s/quiesce_job_%s.prom", dir, j->name);
        /* a name the collector skips (it reads *.prom only) */
        _cleanup_free_ char *tmp = xasprintf("%s/.quiesce_job_%s.prom.%d", dir, j->name, (int)getpid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                r = -errno;
                return qz_error(ret_error, r, "%s: %s", tmp, strerror(-r));
        }
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
                r = errno ? -errno : -EIO;
                unlink(tmp);
                return qz_error(ret_error, r, "%s: %s", tmp, strerror(-r));
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return qz_error(ret_error, r, "%s: %s", path, strerror(-r));
        }
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}
