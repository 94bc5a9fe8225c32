/* SPDX-License-Identifier: GPL-2.0-or-later */
/* job.c - `quiesce job list|show|run`: the jobs of /etc/quiesce/jobs.d
 * (src/job) listed, one shown with every setting, one run (job_run.c).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "job.h"
#include "jobrun.h"
#include "template.h"
#include "xalloc.h"

static json_object *strv_json(char *const *v, size_t n) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, json_object_new_string(v[i]));
        return a;
}

static void add_str(json_object *o, const char *key, const char *v) {
        json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static const char *target_name(qz_job_target t) {
        return t == QZ_JOB_TARGET_ARCHIVE ? "archive" : t == QZ_JOB_TARGET_EXEC ? "exec" : "none";
}

json_object *cli_job_json(const qz_job *j) {
        json_object *o = json_object_new_object(), *s = json_object_new_object(),
                    *b = json_object_new_object();
        add_str(o, "name", j->name);
        add_str(o, "file", j->file);
        add_str(o, "description", j->description);
        add_str(o, "schedule", j->schedule);
        _cleanup_free_ char *store = qz_store_dir(j->store);
        add_str(o, "store", store);
        add_str(o, "metrics_dir", j->metrics_dir ? j->metrics_dir : QZ_DEFAULT_METRICS_DIR);
        json_object_object_add(s, "paths", strv_json(j->paths, j->n_paths));
        add_str(s, "provider", j->provider ? j->provider : "auto");
        add_str(s, "exec_cmd", j->exec_cmd);
        add_str(s, "exec_delete", j->exec_delete);
        json_object_object_add(s, "exec_timeout_ms", json_object_new_int64(j->exec_timeout_ms));
        add_str(s, "lvm_size", j->lvm_size);
        json_object_object_add(
                s, "timeout_ms",
                json_object_new_int64(j->timeout_ms ? j->timeout_ms : QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS));
        add_str(s, "hooks_dir", j->hooks_dir ? j->hooks_dir : QZ_DEFAULT_HOOKS_DIR);
        json_object_object_add(
                s, "hook_timeout_ms",
                json_object_new_int64(j->hook_timeout_ms ? j->hook_timeout_ms : QZ_HOOK_DEFAULT_TIMEOUT_MS));
        json_object_object_add(s, "writers", strv_json(j->writers, j->n_writers));
        json_object_object_add(s, "allow_crash_consistent",
                               json_object_new_boolean(j->allow_crash_consistent));
        json_object_object_add(s, "no_freeze", json_object_new_boolean(j->no_freeze));
        json_object_object_add(o, "snapshot", s);
        add_str(b, "target", target_name(j->target));
        add_str(b, "archive_dir", j->archive_dir);
        add_str(b, "format", j->archive_format);
        json_object_object_add(b, "exec", j->exec ? strv_json(j->exec, j->n_exec) : NULL);
        /* the names only: a value may be a secret (RESTIC_PASSWORD) */
        json_object *env = json_object_new_array();
        for (size_t i = 0; i < j->n_exec_env; i++)
                json_object_array_add(
                        env, json_object_new_string_len(j->exec_env[i], (int)strcspn(j->exec_env[i], "=")));
        json_object_object_add(b, "env", env);
        json_object_object_add(b, "keep_snapshot", json_object_new_boolean(j->keep_snapshot));
        json_object_object_add(o, "backup", b);
        if (j->has_retention) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "keep_last", json_object_new_int64(j->retention.keep_last));
                json_object_object_add(r, "keep_hourly", json_object_new_int64(j->retention.keep_hourly));
                json_object_object_add(r, "keep_daily", json_object_new_int64(j->retention.keep_daily));
                json_object_object_add(r, "keep_weekly", json_object_new_int64(j->retention.keep_weekly));
                json_object_object_add(r, "keep_monthly", json_object_new_int64(j->retention.keep_monthly));
                json_object_object_add(o, "retention", r);
        } else
                json_object_object_add(o, "retention", NULL);
        return o;
}

static void print_json(json_object *o) {
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

char *cli_job_target_text(const qz_job *j) {
        if (j->target == QZ_JOB_TARGET_ARCHIVE)
                return xasprintf("archive %s/SNAPSHOT.%s", j->archive_dir, j->archive_format);
        if (j->target == QZ_JOB_TARGET_EXEC) {
                _cleanup_free_ char *cmd = qz_strv_join(j->exec, j->n_exec, " ");
                return xasprintf("exec %s", cmd);
        }
        return xstrdup("snapshots only");
}

/* ---- list ---- */

static int job_list(const char *dir, bool json) {
        _cleanup_(qz_strv_freep) char **names = NULL;
        size_t n = 0;
        _cleanup_free_ char *err = NULL;
        if (qz_jobs_names(dir, &names, &n, &err) < 0) {
                cli_error("job list: %s", err);
                return EXIT_FAILURE;
        }
        json_object *a = json ? json_object_new_array() : NULL;
        int ret = EXIT_SUCCESS;
        if (!json && n)
                printf("%-16s %-28s %-10s %s\n", "JOB", "SCHEDULE", "RETENTION", "TARGET");
        for (size_t i = 0; i < n; i++) {
                _cleanup_(qz_job_freep) qz_job *j = NULL;
                _cleanup_free_ char *why = NULL;
                if (qz_job_load(dir, names[i], &j, &why) < 0) {
                        cli_error("job list: %s", why);
                        ret = EXIT_FAILURE;
                        if (a) {
                                json_object *o = json_object_new_object();
                                add_str(o, "name", names[i]);
                                add_str(o, "error", why);
                                json_object_array_add(a, o);
                        }
                        continue;
                }
                if (a) {
                        json_object_array_add(a, cli_job_json(j));
                        continue;
                }
                _cleanup_free_ char *target = cli_job_target_text(j);
                printf("%-16s %-28s %-10s %s\n", j->name, j->schedule ? j->schedule : "-",
                       j->has_retention ? "yes" : "-", target);
        }
        if (a) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "jobs_dir", json_object_new_string(dir));
                json_object_object_add(o, "jobs", a);
                print_json(o);
                json_object_put(o);
        } else if (n == 0)
                printf("no jobs in %s\n", dir);
        return ret;
}

/* ---- show ---- */

static void show_text(const qz_job *j, const qz_job_writer *w) {
        _cleanup_free_ char *store = qz_store_dir(j->store), *paths = qz_strv_join(j->paths, j->n_paths, " ");
        _cleanup_free_ char *target = cli_job_target_text(j);
        char d1[32], d2[32];
        printf("job %s (%s)\n", j->name, j->file);
        if (j->description)
                printf("  description: %s\n", j->description);
        if (j->schedule) {
                _cleanup_free_ char *next = qz_calendar_next(j->schedule);
                printf("  schedule:    %s%s%s%s\n", j->schedule, next ? " (next " : "", next ? next : "",
                       next ? ")" : "");
        } else
                printf("  schedule:    none (run by hand)\n");
        printf("  paths:       %s\n", paths);
        printf("  provider:    %s%s%s\n", j->provider ? j->provider : "auto",
               j->exec_cmd ? ", exec-cmd " : "", j->exec_cmd ? j->exec_cmd : "");
        printf("  freeze:      %s, timeout %s, hooks %s (each %s)\n",
               j->no_freeze ? "none (no-freeze)" : "yes",
               qz_format_duration(j->timeout_ms ? j->timeout_ms : QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS, d1,
                                  sizeof(d1)),
               j->hooks_dir ? j->hooks_dir : QZ_DEFAULT_HOOKS_DIR,
               qz_format_duration(j->hook_timeout_ms ? j->hook_timeout_ms : QZ_HOOK_DEFAULT_TIMEOUT_MS, d2,
                                  sizeof(d2)));
        if (j->n_writers) {
                _cleanup_free_ char *names = qz_strv_join(j->writers, j->n_writers, " ");
                printf("  writers:     %s\n", names);
                cli_job_writers_print(w, j->n_writers);
        }
        printf("  crash-consistent acceptable: %s\n", j->allow_crash_consistent ? "yes" : "no");
        printf("  store:       %s\n", store);
        printf("  target:      %s%s\n", target,
               j->target != QZ_JOB_TARGET_NONE
                       ? (j->keep_snapshot ? " (snapshot kept)" : " (snapshot deleted after)")
                       : "");
        if (j->has_retention)
                printf("  retention:   keep-last %u, hourly %u, daily %u, weekly %u, monthly %u\n",
                       j->retention.keep_last, j->retention.keep_hourly, j->retention.keep_daily,
                       j->retention.keep_weekly, j->retention.keep_monthly);
        else
                printf("  retention:   none (snapshots are kept)\n");
        printf("  metrics:     %s\n", j->metrics_dir ? j->metrics_dir : QZ_DEFAULT_METRICS_DIR);
}

/* With the writers registered now, as quiesced says (unknown when it cannot be asked). */
static int job_show(struct cli *cli, const char *dir, const char *name, bool json) {
        _cleanup_(qz_job_freep) qz_job *j = NULL;
        _cleanup_free_ char *why = NULL;
        if (qz_job_load(dir, name, &j, &why) < 0) {
                cli_error("job show: %s", why);
                return EXIT_FAILURE;
        }
        qz_job_writer *w = NULL;
        if (j->n_writers)
                (void)qz_job_writers_lookup(j, cli->socket, &w);
        if (json) {
                json_object *o = cli_job_json(j);
                json_object_object_add(o, "writers", cli_job_writers_json(w, j->n_writers));
                print_json(o);
                json_object_put(o);
        } else
                show_text(j, w);
        qz_job_writers_free(w, j->n_writers);
        return EXIT_SUCCESS;
}

int cmd_job(struct cli *cli, int argc, char **argv) {
        enum { OPT_JOBS_DIR = 256, OPT_DRY_RUN, OPT_WAIT };
        static const struct option longopts[] = {
                {"jobs-dir", required_argument, NULL, OPT_JOBS_DIR},
                {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                {"wait", no_argument, NULL, OPT_WAIT},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *jobs_dir = NULL;
        bool json = false, dry_run = false, wait = false;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "J", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_JOBS_DIR:
                        jobs_dir = optarg;
                        break;
                case OPT_DRY_RUN:
                        dry_run = true;
                        break;
                case OPT_WAIT:
                        wait = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "job", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("job: say what: list, show NAME or run NAME");
        const char *what = argv[optind];
        int rest = argc - optind - 1;
        _cleanup_free_ char *dir = qz_jobs_dir(jobs_dir);
        if (strcmp(what, "list") == 0) {
                if (rest)
                        return cli_usage_error("job list: takes no operands");
                if (dry_run || wait)
                        return cli_usage_error("job list: --dry-run and --wait are run's");
                return job_list(dir, json);
        }
        if (strcmp(what, "show") != 0 && strcmp(what, "run") != 0)
                return cli_usage_error("job: unknown subcommand '%s' (list, show, run)", what);
        if (rest != 1)
                return cli_usage_error("job %s: give one job NAME", what);
        if (what[0] == 's') {
                if (dry_run || wait)
                        return cli_usage_error("job show: --dry-run and --wait are run's");
                return job_show(cli, dir, argv[optind + 1], json);
        }
        return cli_job_run(cli, dir, argv[optind + 1], dry_run, wait, json);
}
