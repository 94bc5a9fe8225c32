/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job_run.c - `quiesce job run NAME [--dry-run] [--wait]`: the job's lock
 * (one run at a time), the run (src/job/run.c), and its report for a person
 * or, with --json, a program. --dry-run says what a run would do and
 * freezes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "jobrun.h"
#include "template.h"

static void print_msg(void *userdata, const char *text) {
        cli_error("%s", text);
}

json_object *cli_job_writers_json(const qz_job_writer *w, size_t n) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(w[i].name));
                json_object_object_add(o, "registered",
                                       w[i].registered < 0 ? NULL : json_object_new_boolean(w[i].registered));
                json_object_object_add(o, "where", w[i].where ? json_object_new_string(w[i].where) : NULL);
                json_object_object_add(o, "acknowledged",
                                       w[i].judged ? json_object_new_boolean(w[i].acknowledged) : NULL);
                json_object_object_add(o, "reason", w[i].reason ? json_object_new_string(w[i].reason) : NULL);
                json_object_array_add(a, o);
        }
        return a;
}

void cli_job_writers_print(const qz_job_writer *w, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (w[i].judged)
                        printf("  writer %s: %s%s\n", w[i].name,
                               w[i].acknowledged ? "acknowledged the freeze" : "NOT acknowledged: ",
                               w[i].acknowledged ? "" : w[i].reason);
                else if (w[i].registered == 1)
                        printf("  writer %s: registered: %s\n", w[i].name, w[i].where);
                else
                        printf("  writer %s: %s: %s\n", w[i].name,
                               w[i].registered == 0 ? "NOT registered" : "unknown", w[i].where);
        }
}

static int dry_run(struct cli *cli, const qz_job *j, bool json) {
        char base[QZ_SNAPSHOT_NAME_MAX + 1];
        qz_job_snapshot_base(j, time(NULL), base, sizeof(base));
        _cleanup_free_ char *target = cli_job_target_text(j), *store = qz_store_dir(j->store);
        int missing = 0;
        for (size_t i = 0; i < j->n_paths; i++) {
                struct stat st;
                if (stat(j->paths[i], &st) < 0) {
                        cli_error("job run --dry-run: %s: %s", j->paths[i], strerror(errno));
                        missing++;
                }
        }
        qz_job_writer *w = NULL;
        size_t unregistered = 0;
        if (j->n_writers) {
                (void)qz_job_writers_lookup(j, cli->socket, &w);
                for (size_t i = 0; i < j->n_writers; i++)
                        unregistered += w[i].registered != 1;
        }
        if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "dry_run", json_object_new_boolean(true));
                json_object_object_add(o, "job", cli_job_json(j));
                json_object_object_add(o, "snapshot_name", json_object_new_string(base));
                json_object_object_add(o, "missing_paths", json_object_new_int(missing));
                json_object_object_add(o, "writers", cli_job_writers_json(w, j->n_writers));
                json_object_object_add(o, "unregistered_writers", json_object_new_int((int)unregistered));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else {
                _cleanup_free_ char *paths = qz_strv_join(j->paths, j->n_paths, " ");
                char d[32];
                printf("job %s: dry run, nothing is frozen or written\n", j->name);
                printf("  would snapshot %s (provider %s, %s, timeout %s) as %s in %s\n", paths,
                       j->provider ? j->provider : "auto", j->no_freeze ? "not frozen" : "frozen",
                       qz_format_duration(j->timeout_ms ? j->timeout_ms : QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS, d,
                                          sizeof(d)),
                       base, store);
                printf("  would back up to: %s\n", target);
                if (j->target != QZ_JOB_TARGET_NONE && !j->keep_snapshot)
                        printf("  would delete the snapshot after its backup\n");
                if (j->has_retention)
                        printf("  would apply retention: keep-last %u, hourly %u, daily %u, weekly %u, "
                               "monthly %u\n",
                               j->retention.keep_last, j->retention.keep_hourly, j->retention.keep_daily,
                               j->retention.keep_weekly, j->retention.keep_monthly);
                printf("  would write metrics to %s/quiesce_job_%s.prom\n",
                       j->metrics_dir ? j->metrics_dir : QZ_DEFAULT_METRICS_DIR, j->name);
                cli_job_writers_print(w, j->n_writers);
                if (unregistered)
                        printf("  would refuse to start: %zu of its writers %s not registered\n",
                               unregistered, unregistered == 1 ? "is" : "are");
        }
        qz_job_writers_free(w, j->n_writers);
        return missing || unregistered ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void report_text(const qz_job *j, const qz_job_run *run) {
        const qz_manifest *s = run->snapshot;
        char d[32], b1[32], b2[32];
        if (s) {
                printf("job %s: snapshot %s: %s, %s provider\n", j->name, s->name, qz_label_name(run->label),
                       s->provider);
                for (size_t i = 0; i < s->n_fs; i++) {
                        const qz_snap_proof *p = &s->fs[i].proof;
                        if (p->known)
                                printf("  %s: %s\n", s->fs[i].mountpoint,
                                       p->held ? "frozen throughout, verified"
                                               : (p->breach ? p->breach : "NOT frozen throughout"));
                }
                cli_job_writers_print(run->writers, run->n_writers);
                if (s->frozen_ms >= 0) {
                        printf("  frozen %s; stall", qz_format_duration(s->frozen_ms, d, sizeof(d)));
                        for (size_t i = 0; i < s->n_fs; i++)
                                printf("%s %s %" PRId64 " ms", i ? "," : "", s->fs[i].mountpoint,
                                       s->fs[i].stall_ms);
                        putchar('\n');
                }
        }
        if (!s && run->writers_refused)
                cli_job_writers_print(run->writers, run->n_writers);
        if (run->backed_up && run->archive) {
                uint64_t bytes = 0, files = 0;
                for (size_t i = 0; i < s->n_fs; i++) {
                        bytes += run->backup.fs[i].counts.bytes;
                        files += run->backup.fs[i].counts.files;
                }
                printf("  archive %s: %s, %" PRIu64 " files, %s of data\n", run->archive,
                       qz_format_bytes(run->backup.archive_bytes, b1, sizeof(b1)), files,
                       qz_format_bytes(bytes, b2, sizeof(b2)));
        } else if (run->backed_up) {
                for (size_t i = 0; i < s->n_fs; i++)
                        printf("  %s: backup command exit status %d\n", s->fs[i].mountpoint,
                               run->backup.fs[i].exit_status);
        }
        if (run->backed_up && run->backup.made_now)
                printf("  snapshot %s %s\n", s->name,
                       run->backup.deleted ? "deleted after its backup" : "kept");
        if (run->pruned >= 0) {
                _cleanup_free_ char *policy = qz_retention_describe(&j->retention);
                printf("  retention (%s): removed %d snapshot%s", policy, run->pruned,
                       run->pruned == 1 ? "" : "s");
                if (run->pruned_archives >= 0)
                        printf(" and %d archive%s", run->pruned_archives,
                               run->pruned_archives == 1 ? "" : "s");
                printf("%s\n", run->prune_failed ? " (some removals failed, see above)" : "");
        }
        if (run->kept >= 0)
                printf("  snapshots of the job in the store: %" PRId64 "\n", run->kept);
        if (run->metrics_file)
                printf("  metrics: %s\n", run->metrics_file);
        printf("job %s: %s in %s\n", j->name, run->ok ? "succeeded" : "FAILED",
               qz_format_duration(run->duration_ms, d, sizeof(d)));
}

static void report_json(const qz_job *j, const qz_job_run *run) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "job", json_object_new_string(j->name));
        json_object_object_add(o, "ok", json_object_new_boolean(run->ok));
        json_object_object_add(o, "started", json_object_new_int64(run->started));
        json_object_object_add(o, "duration_ms", json_object_new_int64(run->duration_ms));
        json_object_object_add(o, "snapshot_name", json_object_new_string(run->snapshot_name));
        json_object *snap = NULL;
        if (run->snapshot) {
                _cleanup_free_ char *text = qz_manifest_to_json(run->snapshot);
                snap = text ? json_tokener_parse(text) : NULL;
                json_object_object_add(o, "label", json_object_new_string(qz_label_name(run->label)));
        } else
                json_object_object_add(o, "label", NULL);
        json_object_object_add(o, "snapshot", snap);
        json_object_object_add(o, "consistent", json_object_new_boolean(run->consistent));
        json_object_object_add(o, "writers",
                               run->n_writers ? cli_job_writers_json(run->writers, run->n_writers) : NULL);
        json_object_object_add(o, "writers_refused", json_object_new_boolean(run->writers_refused));
        json_object_object_add(o, "writers_unacknowledged", json_object_new_int((int)run->writers_unacked));
        if (run->backed_up) {
                json_object *b = json_object_new_object();
                uint64_t bytes = 0, files = 0;
                json_object *st = json_object_new_array();
                for (size_t i = 0; i < run->snapshot->n_fs; i++) {
                        bytes += run->backup.fs[i].counts.bytes;
                        files += run->backup.fs[i].counts.files;
                        json_object_array_add(st, json_object_new_int(run->backup.fs[i].exit_status));
                }
                json_object_object_add(b, "target",
                                       json_object_new_string(run->archive ? "archive" : "exec"));
                json_object_object_add(b, "archive",
                                       run->archive ? json_object_new_string(run->archive) : NULL);
                json_object_object_add(b, "archive_bytes",
                                       json_object_new_int64((int64_t)run->backup.archive_bytes));
                json_object_object_add(b, "bytes", json_object_new_int64((int64_t)bytes));
                json_object_object_add(b, "files", json_object_new_int64((int64_t)files));
                json_object_object_add(b, "exit_status", st);
                json_object_object_add(b, "snapshot_deleted", json_object_new_boolean(run->backup.deleted));
                json_object_object_add(o, "backup", b);
        } else
                json_object_object_add(o, "backup", NULL);
        json_object_object_add(o, "pruned", run->pruned >= 0 ? json_object_new_int(run->pruned) : NULL);
        json_object_object_add(o, "pruned_archives",
                               run->pruned_archives >= 0 ? json_object_new_int(run->pruned_archives) : NULL);
        json_object_object_add(o, "prune_failed", json_object_new_int(run->prune_failed));
        json_object_object_add(o, "snapshots", run->kept >= 0 ? json_object_new_int64(run->kept) : NULL);
        json_object_object_add(o, "metrics_file",
                               run->metrics_file ? json_object_new_string(run->metrics_file) : NULL);
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

int cli_job_run(struct cli *cli, const char *dir, const char *name, bool dry, bool wait, bool json) {
        _cleanup_(qz_job_freep) qz_job *j = NULL;
        _cleanup_free_ char *why = NULL;
        if (qz_job_load(dir, name, &j, &why) < 0) {
                cli_error("job run: %s", why);
                return EXIT_FAILURE;
        }
        if (dry)
                return dry_run(cli, j, json);
        qz_job_lock lock;
        if (qz_job_lock_take(j->name, wait, &lock, &why) < 0) {
                cli_error("job run: %s", why);
                return EXIT_FAILURE;
        }
        qz_job_run_opts o = {.socket = cli->socket, .json = json, .msg = print_msg};
        qz_job_run run;
        int r = qz_job_run_once(j, &o, &run);
        qz_job_lock_release(&lock);
        if (json)
                report_json(j, &run);
        else
                report_text(j, &run);
        int ret = run.signal ? 128 + run.signal : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        qz_job_run_done(&run);
        return ret;
}
