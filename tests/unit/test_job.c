/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_job.c - unit tests of the job file parser (src/job/parse.c, libinih
 * underneath): every key into the model, defaults, each refusal naming the
 * file, the line and the reason; a job's snapshots by name and by "job";
 * and check's verdict on ages (freshness.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

/* A fake calendar parser: "bad..." is refused. */
static int fake_calendar(const char *expr, char **ret_error) {
        if (strncmp(expr, "bad", 3) == 0) {
                *ret_error = strdup("Failed to parse calendar specification");
                return -EINVAL;
        }
        return 0;
}

static qz_job *parse_ok(const char *text) {
        qz_job *j = NULL;
        char *err = NULL;
        int r = qz_job_parse_string("/etc/quiesce/jobs.d/db.conf", text, fake_calendar, &j, &err);
        if (r < 0)
                fail_msg("refused: %s", err);
        assert_null(err);
        return j;
}

static void refused(const char *text, const char *expect) {
        qz_job *j = NULL;
        char *err = NULL;
        int r = qz_job_parse_string("/etc/quiesce/jobs.d/db.conf", text, fake_calendar, &j, &err);
        assert_int_equal(r, -EINVAL);
        assert_null(j);
        assert_non_null(err);
        if (strcmp(err, expect) != 0)
                fail_msg("got '%s', expected '%s'", err, expect);
        free(err);
}

static void test_every_key(void **state) {
        qz_job *j = parse_ok("# the database\n"
                             "[job]\n"
                             "description = PostgreSQL ; with a semicolon\n"
                             "schedule = *-*-* 03:00\n"
                             "store = /srv/store\n"
                             "metrics-dir = /srv/metrics\n"
                             "\n"
                             "[snapshot]\n"
                             "paths = /srv/a /srv/b\n"
                             "paths = /srv/c\n"
                             "provider = exec\n"
                             "exec-cmd = /usr/bin/snap {device} {name}\n"
                             "exec-delete = /usr/bin/unsnap {location}\n"
                             "exec-timeout = 30s\n"
                             "lvm-size = 2G\n"
                             "timeout = 500ms\n"
                             "hooks-dir = /etc/hooks\n"
                             "hook-timeout = 2m\n"
                             "writers = postgres redis\n"
                             "allow-crash-consistent = yes\n"
                             "no-freeze = off\n"
                             "[backup]\n"
                             "exec = restic backup --tag {name} .\n"
                             "env = RESTIC_PASSWORD_FILE=/etc/pw\n"
                             "env = A=b=c\n"
                             "keep-snapshot = no\n"
                             "[retention]\n"
                             "keep-last = 3\n"
                             "keep-hourly = 0\n"
                             "keep-daily = 7\n"
                             "keep-weekly = 4\n"
                             "keep-monthly = 12\n");
        assert_string_equal(j->name, "db");
        assert_string_equal(j->description, "PostgreSQL ; with a semicolon");
        assert_string_equal(j->schedule, "*-*-* 03:00");
        assert_string_equal(j->store, "/srv/store");
        assert_string_equal(j->metrics_dir, "/srv/metrics");
        assert_int_equal(j->n_paths, 3);
        assert_string_equal(j->paths[2], "/srv/c");
        assert_null(j->paths[3]);
        assert_string_equal(j->provider, "exec");
        assert_string_equal(j->exec_cmd, "/usr/bin/snap {device} {name}");
        assert_string_equal(j->exec_delete, "/usr/bin/unsnap {location}");
        assert_int_equal(j->exec_timeout_ms, 30000);
        assert_string_equal(j->lvm_size, "2G");
        assert_int_equal(j->timeout_ms, 500);
        assert_string_equal(j->hooks_dir, "/etc/hooks");
        assert_int_equal(j->hook_timeout_ms, 120000);
        assert_int_equal(j->n_writers, 2);
        assert_string_equal(j->writers[1], "redis");
        assert_true(j->allow_crash_consistent);
        assert_false(j->no_freeze);
        assert_int_equal(j->target, QZ_JOB_TARGET_EXEC);
        assert_int_equal(j->n_exec, 5);
        assert_string_equal(j->exec[3], "{name}");
        assert_int_equal(j->n_exec_env, 2);
        assert_string_equal(j->exec_env[1], "A=b=c");
        assert_false(j->keep_snapshot);
        assert_true(j->has_retention);
        assert_int_equal(j->retention.keep_last, 3);
        assert_int_equal(j->retention.keep_hourly, 0);
        assert_int_equal(j->retention.keep_daily, 7);
        assert_int_equal(j->retention.keep_weekly, 4);
        assert_int_equal(j->retention.keep_monthly, 12);
        qz_job_free(j);
}

static void test_defaults(void **state) {
        qz_job *j = parse_ok("[snapshot]\npaths = /srv\n");
        assert_null(j->schedule);
        assert_null(j->store);
        assert_null(j->provider);
        assert_int_equal(j->timeout_ms, 0);
        assert_false(j->allow_crash_consistent);
        assert_int_equal(j->target, QZ_JOB_TARGET_NONE);
        assert_true(j->keep_snapshot);
        assert_false(j->has_retention);
        qz_job_free(j);
        j = parse_ok("[snapshot]\npaths = /srv\n[backup]\narchive-dir = /b\n");
        assert_int_equal(j->target, QZ_JOB_TARGET_ARCHIVE);
        assert_string_equal(j->archive_format, "tar.zst");
        qz_job_free(j);
        /* a line longer than inih's default 200 bytes */
        char text[2048];
        char longpath[1500];
        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        snprintf(text, sizeof(text), "[snapshot]\npaths = %s\ntimeout = 1s\n", longpath);
        j = parse_ok(text);
        assert_string_equal(j->paths[0], longpath);
        assert_int_equal(j->timeout_ms, 1000);
        qz_job_free(j);
}

static void test_refusals_name_file_line_reason(void **state) {
        const char *f = "/etc/quiesce/jobs.d/db.conf";
        char want[512];
#define REFUSED(text, line, reason)                                                                          \
        do {                                                                                                 \
                snprintf(want, sizeof(want), "%s:%d: %s", f, line, reason);                                  \
                refused(text, want);                                                                         \
        } while (0)
        REFUSED("[snapshot]\npaths = /srv\n\n[retention]\nkeep-last = 3\n\n# x\nkeep-dayly = 7\n", 8,
                "unknown key \"keep-dayly\" in [retention]");
        REFUSED("[snapshot]\npaths=/srv\n[extra]\nx=1\n", 4,
                "unknown section [extra] (sections: [job] [snapshot] [backup] [retention])");
        REFUSED("x = 1\n", 1,
                "key \"x\" outside a section (sections: [job] [snapshot] [backup] [retention])");
        REFUSED("[snapshot]\npaths = /srv\ntimeout = none\n", 3,
                "bad duration \"none\" for \"timeout\" in [snapshot]: expected e.g. 500ms, 10s, 2m, 1h");
        REFUSED("[snapshot]\npaths = /srv\n[retention]\nkeep-last = 3x\n", 4,
                "bad value \"3x\" for \"keep-last\" in [retention]: expected a count 0..100000");
        REFUSED("[job]\n[snapshot]\npaths = /srv\nwriters = pg\nno-freeze = yes\n", 3,
                "\"writers\" and \"no-freeze\" exclude each other in [snapshot]: a snapshot without a "
                "freeze asks no writer");
        REFUSED("[snapshot]\npaths = /srv\nno-freeze = perhaps\n", 3,
                "bad value \"perhaps\" for \"no-freeze\" in [snapshot]: expected yes or no");
        REFUSED("[job]\nschedule = bad day\n[snapshot]\npaths = /srv\n", 2,
                "bad schedule \"bad day\" in [job]: Failed to parse calendar specification");
        REFUSED("[job]\nstore = relative\n", 2,
                "\"store\" in [job] must be an absolute path, not \"relative\"");
        REFUSED("[job]\n\n[snapshot]\ntimeout = 1s\n", 4,
                "no \"paths\" in [snapshot]: a job names the paths it snapshots");
        REFUSED("[job]\ndescription = x\n", 2,
                "no \"paths\" in [snapshot]: a job names the paths it snapshots");
        REFUSED("[snapshot]\npaths = /srv\nprovider = zfs\n", 3,
                "unknown provider \"zfs\" in [snapshot] (known: auto reflink btrfs exec lvm)");
        REFUSED("[snapshot]\npaths = /srv\nprovider = exec\nexec-cmd = snap {volume}\n", 4,
                "unknown placeholder {volume} in \"exec-cmd\" (known: {device} {mountpoint} {fstype} {name} "
                "{id})");
        REFUSED("[snapshot]\npaths = /srv\nprovider = exec\n", 2,
                "provider \"exec\" needs \"exec-cmd\" in [snapshot]");
        REFUSED("[snapshot]\npaths = /srv\nhooks-dir = /a\nhooks-dir = /b\n", 4,
                "\"hooks-dir\" given twice in [snapshot]");
        REFUSED("[snapshot]\npaths = /srv\n[backup]\nenv = =x\n", 4,
                "bad value \"=x\" for \"env\" in [backup]: expected NAME=VALUE");
        REFUSED("[snapshot]\npaths = /srv\n[backup]\nformat = zip\n", 4,
                "bad format \"zip\" in [backup]: expected tar, tar.gz or tar.zst");
        REFUSED("[snapshot]\npaths = /srv\n[retention]\nkeep-last = 0\n", 4,
                "[retention] keeps nothing (every keep-* is 0): leave the section out to keep every "
                "snapshot");
        REFUSED("[snapshot]\npaths = /srv\n[backup\n", 3,
                "syntax error: expected [section], KEY = VALUE or a # comment");
        refused("[snapshot]\npaths = /srv\n[backup]\narchive-dir = /a\nexec = tar\n",
                "/etc/quiesce/jobs.d/db.conf: \"archive-dir\" and \"exec\" exclude each other in [backup]: "
                "one "
                "target per job");
#undef REFUSED
}

static void test_names(void **state) {
        assert_true(qz_job_name_valid("db"));
        assert_true(qz_job_name_valid("web_1.nightly-2"));
        assert_false(qz_job_name_valid(""));
        assert_false(qz_job_name_valid(".db"));
        assert_false(qz_job_name_valid("-db"));
        assert_false(qz_job_name_valid("a/b"));
        assert_false(qz_job_name_valid("0123456789012345678901234567890123456789x"));
        qz_job *j = NULL;
        char *err = NULL;
        assert_int_equal(qz_job_parse_string("/x/bad name.conf", "[snapshot]\npaths=/a\n", NULL, &j, &err),
                         -EINVAL);
        assert_non_null(strstr(err, "\"bad name\" is not a job name"));
        free(err);
        err = NULL;
        assert_int_equal(qz_job_parse_string("/x/db.ini", "", NULL, &j, &err), -EINVAL);
        assert_string_equal(err, "/x/db.ini: a job file's name ends in .conf");
        free(err);
}

static void test_owns(void **state) {
        qz_job *j = parse_ok("[snapshot]\npaths = /srv\n");
        char base[64];
        qz_job_snapshot_base(j, 1796094000, base, sizeof(base)); /* 2026-12-01 03:00:00 UTC */
        assert_string_equal(base, "db-20261201T030000Z");
        qz_manifest m = {.name = base};
        assert_true(qz_job_owns(j, &m));
        m.name = "db-20261201T030000Z-2";
        assert_true(qz_job_owns(j, &m));
        m.name = "db-20261201T030000Z-";
        assert_false(qz_job_owns(j, &m));
        m.name = "db-nightly";
        assert_false(qz_job_owns(j, &m));
        m.name = "dbx-20261201T030000Z";
        assert_false(qz_job_owns(j, &m));
        /* the manifest's "job" decides when it has one */
        m.name = "anything";
        m.job = "db";
        assert_true(qz_job_owns(j, &m));
        m.name = "db-20261201T030000Z";
        m.job = "other";
        assert_false(qz_job_owns(j, &m));
        qz_job_free(j);
}

static void test_freshness(void **state) {
        int64_t age;
        assert_int_equal(qz_check_freshness(0, 1000, 10, 20, &age), QZ_CHECK_CRITICAL);
        assert_int_equal(age, -1);
        assert_int_equal(qz_check_freshness(995, 1000, 10, 20, &age), QZ_CHECK_OK);
        assert_int_equal(age, 5);
        assert_int_equal(qz_check_freshness(990, 1000, 10, 20, &age), QZ_CHECK_WARNING);
        assert_int_equal(qz_check_freshness(981, 1000, 10, 20, &age), QZ_CHECK_WARNING);
        assert_int_equal(qz_check_freshness(980, 1000, 10, 20, &age), QZ_CHECK_CRITICAL);
        assert_int_equal(qz_check_freshness(2000, 1000, 10, 20, &age), QZ_CHECK_OK); /* clock stepped back */
        assert_int_equal(age, 0);
        assert_string_equal(qz_check_status_name(QZ_CHECK_UNKNOWN), "UNKNOWN");
        assert_int_equal(qz_check_parse_created("2026-12-01T03:00:00Z"), 1796094000);
        assert_int_equal(qz_check_parse_created("2026-12-01 03:00"), 0);
        assert_int_equal(qz_check_parse_created(NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_refusals_name_file_line_reason),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_owns),
                cmocka_unit_test(test_freshness),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
