/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot_prune.c - `quiesce snapshot prune` (the retention policy over
 * the store, or over a backup target directory with --archives; the policy
 * from --keep-*, or from the job file of --job) and `quiesce snapshot pin` /
 * `unpin` (lasting pins): options, the report of what is kept and removed
 * and why, exit codes. The work: src/snapshot (prune.h, pin.h).
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "job.h"
#include "pin.h"
#include "prune.h"
#include "xalloc.h"

enum {
        OPT_STORE = 0x100,
        OPT_JOB,
        OPT_DRY_RUN,
        OPT_ARCHIVES,
        OPT_KEEP_LAST,
        OPT_KEEP_HOURLY,
        OPT_KEEP_DAILY,
        OPT_KEEP_WEEKLY,
        OPT_KEEP_MONTHLY,
        OPT_REASON,
        OPT_JOBS_DIR,
};

/* Where the policy came from, for the report. */
struct policy_source {
        const char *job;  /* the job whose file gave it, or NULL: the command line */
        const char *file; /* that job file */
        char *keys;       /* "keep-last 3, keep-daily 7" as the file says it (malloc'd) */
        char *overridden; /* --keep-* given with --job: the job file's policy, or NULL */
};

/* The policy as the job file's keys say it: "keep-last 3, keep-daily 7". */
static char *policy_keys(const qz_retention *p) {
        const char *names[] = {"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly"};
        const unsigned v[] = {p->keep_last, p->keep_hourly, p->keep_daily, p->keep_weekly, p->keep_monthly};
        char *s = xstrdup("");
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                if (!v[i])
                        continue;
                char n[16];
                if (v[i] == QZ_RETENTION_ALL)
                        snprintf(n, sizeof(n), "unlimited");
                else
                        snprintf(n, sizeof(n), "%u", v[i]);
                char *t = xasprintf("%s%s%s %s", s, *s ? ", " : "", names[i], n);
                free(s);
                s = t;
        }
        return s;
}

static void print_msg(void *userdata, const char *text) {
        cli_error("%s", text);
}

/* N (0 .. 1000000) or "unlimited". */
static int parse_keep(const char *opt, const char *text, unsigned *ret) {
        if (strcmp(text, "unlimited") == 0) {
                *ret = QZ_RETENTION_ALL;
                return 0;
        }
        char *end;
        errno = 0;
        unsigned long v = strtoul(text, &end, 10);
        if (errno || end == text || *end || text[0] == '-' || v > 1000000) {
                cli_usage_error("snapshot prune: %s: invalid count '%s' (a number from 0 to 1000000, or "
                                "unlimited)",
                                opt, text);
                return -1;
        }
        *ret = (unsigned)v;
        return 0;
}

static json_object *jstr(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static void print_json(const qz_prune_result *res, const char *where_key, const char *where, const char *job,
                       const struct policy_source *src, bool dry_run, bool archives) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, where_key, jstr(where));
        json_object_object_add(o, "job", jstr(job));
        json_object_object_add(o, "policy", jstr(res->policy));
        json_object *ps = json_object_new_object();
        json_object_object_add(ps, "from", json_object_new_string(src->job ? "job" : "command line"));
        json_object_object_add(ps, "job_file", jstr(src->file));
        json_object_object_add(ps, "keys", jstr(src->keys));
        json_object_object_add(ps, "overrides", jstr(src->overridden));
        json_object_object_add(o, "policy_source", ps);
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < res->n; i++) {
                const qz_prune_entry *e = &res->v[i];
                json_object *x = json_object_new_object();
                json_object_object_add(x, "name", jstr(e->name));
                if (archives)
                        json_object_object_add(x, "path", jstr(e->path));
                json_object_object_add(x, "created", jstr(e->created));
                json_object_object_add(x, "job", jstr(e->job));
                json_object_object_add(x, "label", jstr(e->label));
                json_object_object_add(x, "keep", json_object_new_boolean(e->keep));
                json_object_object_add(x, "reason", jstr(e->reason));
                json_object_object_add(x, "pinned_by", jstr(e->pinned));
                json_object_object_add(x, "removal_order", e->order ? json_object_new_int(e->order) : NULL);
                json_object_object_add(x, "removed", json_object_new_boolean(e->removed));
                json_object_object_add(x, "error", jstr(e->error));
                json_object_array_add(a, x);
        }
        json_object_object_add(o, archives ? "archives" : "snapshots", a);
        json_object_object_add(o, "kept", json_object_new_int64((int64_t)res->n_keep));
        json_object_object_add(o, "to_remove", json_object_new_int64((int64_t)res->n_remove));
        json_object_object_add(o, "removed", json_object_new_int64((int64_t)res->n_removed));
        json_object_object_add(o, "failed", json_object_new_int64((int64_t)res->n_failed));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

static void print_text(const qz_prune_result *res, const char *where, const char *job,
                       const struct policy_source *src, bool dry_run) {
        if (src->job)
                printf("policy from job %s (%s): %s\n", src->job, src->file, src->keys);
        else if (src->overridden)
                printf("policy from the command line: %s (instead of job %s's %s)\n", src->keys, job,
                       src->overridden);
        printf("%s: %s%s%s%s\n", where, res->policy, job ? " (job " : " (each job on its own)",
               job ? job : "", job ? ")" : "");
        if (!res->n) {
                printf("nothing to prune\n");
                return;
        }
        size_t wn = 4, wj = 3, wl = 5;
        for (size_t i = 0; i < res->n; i++) {
                const qz_prune_entry *e = &res->v[i];
                wn = strlen(e->name) > wn ? strlen(e->name) : wn;
                wj = e->job && strlen(e->job) > wj ? strlen(e->job) : wj;
                wl = e->label && strlen(e->label) > wl ? strlen(e->label) : wl;
        }
        printf("%-*s %-20s %-*s %-*s %s\n", (int)wn, "NAME", "CREATED", (int)wj, "JOB", (int)wl, "LABEL",
               "DECISION");
        for (size_t i = 0; i < res->n; i++) {
                const qz_prune_entry *e = &res->v[i];
                const char *done = e->keep      ? ""
                                   : e->removed ? " (removed)"
                                   : e->error   ? " (NOT removed: "
                                   : dry_run    ? " (--dry-run: not removed)"
                                                : "";
                printf("%-*s %-20s %-*s %-*s %s%s%s%s\n", (int)wn, e->name, e->created ? e->created : "?",
                       (int)wj, e->job ? e->job : "-", (int)wl, e->label ? e->label : "?", e->reason, done,
                       e->error ? e->error : "", e->error ? ")" : "");
        }
        if (dry_run)
                printf("%zu kept, %zu would be removed (--dry-run: nothing removed)\n", res->n_keep,
                       res->n_remove);
        else
                printf("%zu kept, %zu removed%s%.0zu%s\n", res->n_keep, res->n_removed,
                       res->n_failed ? ", " : "", res->n_failed,
                       res->n_failed ? " could not be removed" : "");
}

int cli_snapshot_prune(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"store", required_argument, NULL, OPT_STORE},
                {"archives", required_argument, NULL, OPT_ARCHIVES},
                {"job", required_argument, NULL, OPT_JOB},
                {"keep-last", required_argument, NULL, OPT_KEEP_LAST},
                {"keep-hourly", required_argument, NULL, OPT_KEEP_HOURLY},
                {"keep-daily", required_argument, NULL, OPT_KEEP_DAILY},
                {"keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY},
                {"keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY},
                {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                {"jobs-dir", required_argument, NULL, OPT_JOBS_DIR},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *store_opt = NULL, *job = NULL, *archives = NULL, *jobs_dir = NULL;
        bool json = false, dry_run = false, any_keep = false;
        qz_retention p = {0};
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "J", longopts, NULL)) != -1) {
                unsigned *keep = NULL;
                const char *keep_opt = NULL;
                switch (opt) {
                case OPT_STORE:
                        store_opt = optarg;
                        break;
                case OPT_ARCHIVES:
                        archives = optarg;
                        break;
                case OPT_JOB:
                        if (!qz_snapshot_name_valid(optarg))
                                return cli_usage_error(
                                        "snapshot prune: invalid job name '%s' " QZ_SNAPSHOT_NAME_RULE,
                                        optarg);
                        job = optarg;
                        break;
                case OPT_KEEP_LAST:
                        keep = &p.keep_last;
                        keep_opt = "--keep-last";
                        break;
                case OPT_KEEP_HOURLY:
                        keep = &p.keep_hourly;
                        keep_opt = "--keep-hourly";
                        break;
                case OPT_KEEP_DAILY:
                        keep = &p.keep_daily;
                        keep_opt = "--keep-daily";
                        break;
                case OPT_KEEP_WEEKLY:
                        keep = &p.keep_weekly;
                        keep_opt = "--keep-weekly";
                        break;
                case OPT_KEEP_MONTHLY:
                        keep = &p.keep_monthly;
                        keep_opt = "--keep-monthly";
                        break;
                case OPT_DRY_RUN:
                        dry_run = true;
                        break;
                case OPT_JOBS_DIR:
                        jobs_dir = optarg;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "snapshot prune", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
                if (keep) {
                        if (parse_keep(keep_opt, optarg, keep) < 0)
                                return EXIT_USAGE;
                        any_keep = true;
                }
        }
        if (optind < argc)
                return cli_usage_error("snapshot prune: unexpected argument '%s'", argv[optind]);
        if (!any_keep && !job)
                return cli_usage_error("snapshot prune: no policy: give --keep-last, --keep-hourly, "
                                       "--keep-daily, --keep-weekly or --keep-monthly, or --job NAME for "
                                       "the job's own (prune never removes everything)");
        if (any_keep && qz_retention_empty(&p))
                return cli_usage_error("snapshot prune: every --keep-* is 0: that would remove everything; "
                                       "refused");
        if (archives && store_opt)
                return cli_usage_error("snapshot prune: --archives DIR and --store exclude each other");

        /* --job: the job file's [retention], unless --keep-* override it */
        _cleanup_(qz_job_freep) qz_job *j = NULL;
        _cleanup_free_ char *dir = job ? qz_jobs_dir(jobs_dir) : NULL;
        _cleanup_free_ char *why = NULL;
        int lr = job ? qz_job_load(dir, job, &j, &why) : -ENOENT;
        struct policy_source src = {0};
        if (!any_keep) {
                if (lr < 0) {
                        cli_error("snapshot prune: --job %s: %s; give --keep-* for a policy of your own", job,
                                  why);
                        return EXIT_FAILURE;
                }
                if (!j->has_retention) {
                        cli_error(
                                "snapshot prune: job %s (%s) has no [retention]; give --keep-* for a policy",
                                job, j->file);
                        return EXIT_FAILURE;
                }
                p = j->retention;
                src.job = j->name;
                src.file = j->file;
        } else if (j && j->has_retention)
                src.overridden = policy_keys(&j->retention);
        src.keys = policy_keys(&p);

        _cleanup_free_ char *store = archives ? NULL
                                              : qz_store_dir(store_opt ? store_opt
                                                             : j       ? j->store
                                                                       : NULL);
        qz_prune_result res;
        int r = archives ? qz_archive_prune(archives, job, &p, dry_run, print_msg, NULL, &res)
                         : qz_snapshot_prune(store, job, &p, dry_run, print_msg, NULL, &res);
        if (r < 0 && r != -EIO) {
                cli_error("%s: %s", archives ? archives : store, strerror(-r));
                free(src.keys);
                free(src.overridden);
                return EXIT_FAILURE;
        }
        if (json)
                print_json(&res, archives ? "archives_dir" : "store", archives ? archives : store, job, &src,
                           dry_run, archives != NULL);
        else
                print_text(&res, archives ? archives : store, job, &src, dry_run);
        qz_prune_result_done(&res);
        free(src.keys);
        free(src.overridden);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* pin and unpin: [--store DIR] [--reason TEXT] NAME */
static int pin_command(struct cli *cli, const char *cmd, bool pin, int argc, char **argv) {
        static const struct option longopts[] = {
                {"store", required_argument, NULL, OPT_STORE},
                {"reason", required_argument, NULL, OPT_REASON},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *store_opt = NULL, *reason = NULL;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_STORE:
                        store_opt = optarg;
                        break;
                case OPT_REASON:
                        if (!pin)
                                return cli_usage_error("%s: --reason is for pin", cmd);
                        reason = optarg;
                        break;
                default: {
                        int r = cli_common_option(cli, cmd, opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("%s: no snapshot name given", cmd);
        if (argc - optind > 1)
                return cli_usage_error("%s: one snapshot at a time ('%s' is one too many)", cmd,
                                       argv[optind + 1]);
        const char *name = argv[optind];
        _cleanup_free_ char *store = qz_store_dir(store_opt);
        _cleanup_free_ char *err = NULL;
        int r = pin ? qz_pin_add(store, name, reason, &err) : qz_pin_remove(store, name, &err);
        if (r < 0) {
                cli_error("%s", err ? err : strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int cli_snapshot_pin(struct cli *cli, int argc, char **argv) {
        return pin_command(cli, "snapshot pin", true, argc, argv);
}

int cli_snapshot_unpin(struct cli *cli, int argc, char **argv) {
        return pin_command(cli, "snapshot unpin", false, argc, argv);
}
