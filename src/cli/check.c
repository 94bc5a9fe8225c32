/* SPDX-License-Identifier: GPL-2.0-or-later */
/* check.c - `quiesce check [--job NAME] --warn AGE --crit AGE`: a monitoring
 * plugin in the Nagios convention (exit 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN; one status line with perfdata), judged on the newest
 * *consistent* snapshot or backup: crash-consistent ones do not count.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "error.h"
#include "job.h"
#include "xalloc.h"

struct found {
        int64_t newest;     /* unix seconds of the newest consistent one, 0 none */
        char *what;         /* "snapshot db-..." or "backup of db-..." */
        const char *label;  /* its label */
        size_t consistent;  /* snapshots in the store counted */
        size_t crash;       /* crash-consistent or incomplete ones, not counted */
        int64_t newest_any; /* the newest of any label */
        bool store_missing; /* the store does not exist (yet) */
};

static int unknown(bool json, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unknown(bool json, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = xvasprintf(fmt, ap);
        va_end(ap);
        if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "status", json_object_new_string("UNKNOWN"));
                json_object_object_add(o, "code", json_object_new_int(QZ_CHECK_UNKNOWN));
                json_object_object_add(o, "message", json_object_new_string(s));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else
                printf("QUIESCE UNKNOWN - %s\n", s);
        return QZ_CHECK_UNKNOWN;
}

/* The store's snapshots (of job j, or all), into f. 0, or -errno with *ret_error. */
static int scan_store(const char *store, const qz_job *j, struct found *f, char **ret_error) {
        DIR *d = opendir(store);
        if (!d) {
                int r = -errno;
                if (r == -ENOENT) { /* nothing was ever made there: no backup, critical */
                        f->store_missing = true;
                        return 0;
                }
                return qz_error(ret_error, r, "store %s: %s", store, strerror(-r));
        }
        closedir(d);
        qz_manifest **v = NULL;
        size_t n = 0;
        int r = qz_manifest_list(store, &v, &n, NULL);
        if (r < 0)
                return qz_error(ret_error, r, "store %s: %s", store, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                if (j && !qz_job_owns(j, v[i]))
                        continue;
                int64_t t = qz_check_parse_created(v[i]->created);
                if (t > f->newest_any)
                        f->newest_any = t;
                qz_label l = qz_manifest_proven_label(v[i], NULL);
                if (l == QZ_LABEL_CRASH || qz_manifest_incomplete(v[i])) {
                        f->crash++;
                        continue;
                }
                f->consistent++;
                if (t > f->newest) {
                        f->newest = t;
                        free(f->what);
                        f->what = xasprintf("snapshot %s", v[i]->name);
                        f->label = qz_label_name(l);
                }
        }
        qz_manifest_list_free(v, n);
        return 0;
}

/* A job's state file: its last consistent run, which may have deleted its
 * snapshot after the backup. */
static int scan_state(const char *store, const qz_job *j, struct found *f, char **ret_error) {
        qz_job_state st;
        int r = qz_job_state_load(store, j->name, &st);
        if (r < 0) {
                _cleanup_free_ char *path = qz_job_state_path(store, j->name);
                return qz_error(ret_error, r, "%s: %s", path,
                                r == -EBADMSG ? "not a job state file" : strerror(-r));
        }
        if (st.last_consistent > f->newest) {
                f->newest = st.last_consistent;
                free(f->what);
                f->what = xasprintf("%s %s", st.last_target ? "backup of" : "snapshot",
                                    st.last_consistent_snapshot ? st.last_consistent_snapshot : "?");
                static char label[32];
                snprintf(label, sizeof(label), "%s",
                         st.last_consistent_label ? st.last_consistent_label : "?");
                f->label = label;
        }
        qz_job_state_done(&st);
        return 0;
}

static char *age_text(int64_t s) {
        if (s < 120)
                return xasprintf("%" PRId64 "s", s);
        if (s < 2 * 3600)
                return xasprintf("%" PRId64 "m", s / 60);
        if (s < 2 * 86400)
                return xasprintf("%" PRId64 "h", s / 3600);
        return xasprintf("%" PRId64 "d", s / 86400);
}

/* 0, or (a usage error, said) EXIT_USAGE. */
static int parse_age(const char *opt, const char *text, int64_t *ret_s) {
        int64_t ms;
        if (qz_parse_duration(text, &ms) < 0 || ms == QZ_NO_DEADLINE)
                return cli_usage_error("check: %s: bad age '%s' (e.g. 90m, 26h, 2d, 86400s)", opt, text);
        *ret_s = ms / 1000;
        return 0;
}

int cmd_check(struct cli *cli, int argc, char **argv) {
        enum { OPT_JOB = 256, OPT_WARN, OPT_CRIT, OPT_STORE, OPT_JOBS_DIR };
        static const struct option longopts[] = {
                {"job", required_argument, NULL, OPT_JOB},
                {"warn", required_argument, NULL, OPT_WARN},
                {"crit", required_argument, NULL, OPT_CRIT},
                {"store", required_argument, NULL, OPT_STORE},
                {"jobs-dir", required_argument, NULL, OPT_JOBS_DIR},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *job = NULL, *store_opt = NULL, *jobs_dir = NULL;
        int64_t warn = -1, crit = -1;
        bool json = false;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "w:c:J", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_JOB:
                        job = optarg;
                        break;
                case 'w':
                case OPT_WARN:
                        if (parse_age("--warn", optarg, &warn) != 0)
                                return QZ_CHECK_UNKNOWN;
                        break;
                case 'c':
                case OPT_CRIT:
                        if (parse_age("--crit", optarg, &crit) != 0)
                                return QZ_CHECK_UNKNOWN;
                        break;
                case OPT_STORE:
                        store_opt = optarg;
                        break;
                case OPT_JOBS_DIR:
                        jobs_dir = optarg;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "check", opt, argv);
                        if (r >= 0)
                                return r == EXIT_SUCCESS ? r : QZ_CHECK_UNKNOWN;
                }
                }
        }
        /* a plugin's usage error is UNKNOWN (3), not 2, which means CRITICAL */
        if (optind < argc) {
                cli_usage_error("check: unexpected operand '%s'", argv[optind]);
                return QZ_CHECK_UNKNOWN;
        }
        if (warn < 0 || crit < 0) {
                cli_usage_error("check: --warn AGE and --crit AGE are required");
                return QZ_CHECK_UNKNOWN;
        }
        if (warn > crit) {
                cli_usage_error("check: --warn must not be longer than --crit");
                return QZ_CHECK_UNKNOWN;
        }
        _cleanup_(qz_job_freep) qz_job *j = NULL;
        _cleanup_free_ char *err = NULL;
        if (job) {
                _cleanup_free_ char *dir = qz_jobs_dir(jobs_dir);
                if (qz_job_load(dir, job, &j, &err) < 0)
                        return unknown(json, "%s", err);
        }
        _cleanup_free_ char *store = qz_store_dir(store_opt ? store_opt : j ? j->store : NULL);
        struct found f = {0};
        int r = scan_store(store, j, &f, &err);
        if (r >= 0 && j)
                r = scan_state(store, j, &f, &err);
        if (r < 0) {
                free(f.what);
                return unknown(json, "%s", err);
        }
        int64_t now = (int64_t)time(NULL), age;
        qz_check_status s = qz_check_freshness(f.newest, now, warn, crit, &age);
        _cleanup_free_ char *subject = j ? xasprintf("job %s: ", j->name) : xstrdup("");
        _cleanup_free_ char *line = NULL;
        if (f.newest <= 0)
                line = f.crash ? xasprintf("%sno consistent snapshot or backup: only %zu crash-consistent or "
                                           "incomplete snapshot%s",
                                           subject, f.crash, f.crash == 1 ? "" : "s")
                               : xasprintf("%sno consistent snapshot or backup in %s%s", subject, store,
                                           f.store_missing ? " (it does not exist)" : "");
        else {
                _cleanup_free_ char *a = age_text(age);
                line = xasprintf("%snewest consistent %s is %s ago (%s)", subject, f.what, a, f.label);
        }
        if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "status", json_object_new_string(qz_check_status_name(s)));
                json_object_object_add(o, "code", json_object_new_int(s));
                json_object_object_add(o, "message", json_object_new_string(line));
                json_object_object_add(o, "job", j ? json_object_new_string(j->name) : NULL);
                json_object_object_add(o, "store", json_object_new_string(store));
                json_object_object_add(o, "age_s", f.newest > 0 ? json_object_new_int64(age) : NULL);
                json_object_object_add(o, "newest", f.newest > 0 ? json_object_new_string(f.what) : NULL);
                json_object_object_add(o, "label", f.newest > 0 ? json_object_new_string(f.label) : NULL);
                json_object_object_add(o, "warn_s", json_object_new_int64(warn));
                json_object_object_add(o, "crit_s", json_object_new_int64(crit));
                json_object_object_add(o, "consistent", json_object_new_int64((int64_t)f.consistent));
                json_object_object_add(o, "crash_consistent", json_object_new_int64((int64_t)f.crash));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else {
                /* perfdata: 'label'=value[UOM];warn;crit;min;max */
                printf("QUIESCE %s - %s | ", qz_check_status_name(s), line);
                if (f.newest > 0)
                        printf("age=%" PRId64 "s;%" PRId64 ";%" PRId64 ";0; ", age, warn, crit);
                printf("consistent=%zu;;;0; crash_consistent=%zu;;;0;\n", f.consistent, f.crash);
        }
        free(f.what);
        return s;
}
