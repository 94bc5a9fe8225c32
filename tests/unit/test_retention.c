/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_retention.c - the retention decision (retention.c) over injected
 * times: restic's documented forget examples, a simulated month and year
 * of snapshots with crash-consistent ones among them, ties, ISO weeks, and
 * the same snapshots bucketed in UTC and in a local time zone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "prune.h"
#include "retention.h"

#define MAX_ITEMS 2000

static qz_retention_item items[MAX_ITEMS];
static char ids[MAX_ITEMS][32];
static size_t n_items;

static time_t at(const char *iso) {
        struct tm tm = {0};
        assert_non_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
        return timegm(&tm);
}

static qz_retention_item *add_t(time_t t, qz_retention_kind kind) {
        assert_true(n_items < MAX_ITEMS);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ids[n_items], sizeof(ids[n_items]), "%Y%m%d-%H%M%S", &tm);
        qz_retention_item *it = &items[n_items];
        memset(it, 0, sizeof(*it));
        it->id = ids[n_items];
        it->time = t;
        it->kind = kind;
        n_items++;
        return it;
}

static qz_retention_item *add(const char *iso, qz_retention_kind kind) {
        return add_t(at(iso), kind);
}

static const qz_retention_item *find(const char *iso) {
        time_t t = at(iso);
        for (size_t i = 0; i < n_items; i++)
                if (items[i].time == t)
                        return &items[i];
        fail_msg("no item at %s", iso);
        return NULL;
}

static size_t n_kept(void) {
        size_t k = 0;
        for (size_t i = 0; i < n_items; i++)
                k += items[i].keep;
        return k;
}

static int setup(void **state) {
        (void)state;
        n_items = 0;
        setenv("TZ", "UTC", 1);
        tzset();
        return 0;
}

/* restic's doc/060_forget.rst: one backup every Sunday for 12 weeks, then
 * `forget --keep-daily 4` keeps the last four Sundays and removes 8. */
static void test_restic_twelve_sundays_keep_daily_4(void **state) {
        (void)state;
        const char *sundays[] = {"2019-09-01", "2019-09-08", "2019-09-15", "2019-09-22",
                                 "2019-09-29", "2019-10-06", "2019-10-13", "2019-10-20",
                                 "2019-10-27", "2019-11-03", "2019-11-10", "2019-11-17"};
        char iso[32];
        for (size_t i = 0; i < 12; i++) {
                snprintf(iso, sizeof(iso), "%sT11:00:00Z", sundays[i]);
                add(iso, QZ_RETAIN_CONSISTENT);
        }
        qz_retention p = {.keep_daily = 4};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_int_equal(n_kept(), 4);
        for (size_t i = 0; i < 12; i++)
                assert_int_equal(items[i].keep, i >= 8);
        assert_string_equal(find("2019-11-17T11:00:00Z")->reason, "keep: daily 2019-11-17");
        assert_string_equal(find("2019-10-27T11:00:00Z")->reason, "keep: daily 2019-10-27");
        assert_string_equal(find("2019-10-20T11:00:00Z")->reason, "remove: not kept by the policy");
        /* removed oldest first */
        assert_int_equal(find("2019-09-01T11:00:00Z")->order, 1);
        assert_int_equal(find("2019-10-20T11:00:00Z")->order, 8);
}

/* restic's example "one backup every day ... --keep-daily 7 --keep-weekly 5
 * --keep-monthly 12": 7 dailies, 4 more weeklies (the newest daily is a
 * weekly too), 12 or 11 more monthlies; a snapshot kept by several rules
 * lists all of them. Over two years of days, at noon UTC. */
static void test_restic_daily_weekly_monthly(void **state) {
        (void)state;
        time_t t0 = at("2025-01-01T12:00:00Z");
        for (int d = 0; d < 730; d++)
                add_t(t0 + (time_t)d * 86400, QZ_RETAIN_CONSISTENT);
        qz_retention p = {.keep_daily = 7, .keep_weekly = 5, .keep_monthly = 12};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        /* the newest: 2026-12-31, a Thursday of 2026-W53 */
        assert_string_equal(items[729].reason, "keep: daily 2026-12-31, weekly 2026-W53, monthly 2026-12");
        /* the 7 dailies (12-25 .. 12-31) hold two weeklies (W53: 12-31, W52:
         * Sunday 12-27), so 3 more weeklies; the newest monthly is the newest
         * daily, so 11 more monthlies */
        assert_int_equal(n_kept(), 7 + 3 + 11);
        assert_string_equal(find("2026-12-27T12:00:00Z")->reason, "keep: daily 2026-12-27, weekly 2026-W52");
        /* the weeklies are Sundays (the newest day of each ISO week), beyond the 7 days */
        assert_string_equal(find("2026-12-20T12:00:00Z")->reason, "keep: weekly 2026-W51");
        assert_false(find("2026-12-21T12:00:00Z")->keep);
        /* monthlies are the last day of each month */
        assert_string_equal(find("2026-01-31T12:00:00Z")->reason, "keep: monthly 2026-01");
        assert_false(find("2025-12-31T12:00:00Z")->keep); /* the 12 monthly slots end at 2026-01 */
}

/* Fewer buckets than slots: the oldest is kept as well ("oldest daily"), as
 * restic does since 0.17. */
static void test_oldest_kept_while_slots_are_left(void **state) {
        (void)state;
        add("2026-11-28T08:00:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-28T20:00:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-29T09:00:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-29T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention p = {.keep_daily = 5};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_string_equal(find("2026-11-29T10:00:00Z")->reason, "keep: daily 2026-11-29");
        assert_false(find("2026-11-29T09:00:00Z")->keep);
        assert_string_equal(find("2026-11-28T20:00:00Z")->reason, "keep: daily 2026-11-28");
        assert_string_equal(find("2026-11-28T08:00:00Z")->reason, "keep: oldest daily 2026-11-28");
        /* with the slots used up before the oldest: not kept */
        qz_retention q = {.keep_daily = 1};
        assert_int_equal(qz_retention_apply(&q, items, n_items), 0);
        assert_int_equal(n_kept(), 1);
}

/* A simulated month of hourly snapshots; every 5th hour's is crash-consistent,
 * and one day's newest few are broken. Crash and broken never hold a slot:
 * each day's daily is its newest consistent snapshot. */
static void test_month_with_crash_consistent(void **state) {
        (void)state;
        time_t t0 = at("2026-11-01T00:17:00Z");
        for (int h = 0; h < 30 * 24; h++) {
                qz_retention_kind k = h % 5 == 4 ? QZ_RETAIN_CRASH : QZ_RETAIN_CONSISTENT;
                qz_retention_item *it = add_t(t0 + (time_t)h * 3600, k);
                if (h >= 29 * 24 - 3 && h < 29 * 24) /* 2026-11-29 21:17 .. 23:17 */
                        it->kind = QZ_RETAIN_BROKEN, it->why = "its image is missing";
        }
        qz_retention p = {
                .keep_last = 3, .keep_hourly = 24, .keep_daily = 7, .keep_weekly = 4, .keep_monthly = 6};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        size_t crash_kept = 0, broken_removed = 0;
        unsigned max_bad_order = 0, min_good_order = ~0u;
        for (size_t i = 0; i < n_items; i++) {
                if (items[i].kind != QZ_RETAIN_CONSISTENT) {
                        crash_kept += items[i].keep;
                        if (!items[i].keep && items[i].order > max_bad_order)
                                max_bad_order = items[i].order;
                        if (items[i].kind == QZ_RETAIN_BROKEN) {
                                broken_removed++;
                                assert_string_equal(items[i].reason,
                                                    "remove: broken (its image is missing), never counts");
                        } else
                                assert_string_equal(items[i].reason,
                                                    "remove: crash-consistent, never counts");
                } else if (!items[i].keep && items[i].order < min_good_order)
                        min_good_order = items[i].order;
        }
        assert_int_equal(crash_kept, 0);
        assert_int_equal(broken_removed, 3);
        assert_true(max_bad_order < min_good_order); /* crash-consistent and broken go first */
        /* the newest (h = 719, 23:17 on the 30th: 719 % 5 == 4) is crash: last
         * and hourly start at 22:17 */
        assert_false(find("2026-11-30T23:17:00Z")->keep);
        assert_string_equal(find("2026-11-30T22:17:00Z")->reason,
                            "keep: last, hourly 2026-11-30 22:00, daily 2026-11-30, weekly 2026-W49, "
                            "monthly 2026-11");
        /* the 29th's (a Sunday's) newest three are broken: 20:17 is its daily and weekly */
        assert_false(find("2026-11-29T23:17:00Z")->keep);
        assert_string_equal(find("2026-11-29T20:17:00Z")->reason,
                            "keep: hourly 2026-11-29 20:00, daily 2026-11-29, weekly 2026-W48");
        /* 24 hourlies: 22:17 on the 30th back to ..., skipping crash hours */
        size_t hourly = 0, daily = 0, weekly = 0;
        for (size_t i = 0; i < n_items; i++) {
                hourly += strstr(items[i].reason, "hourly") != NULL;
                daily += strstr(items[i].reason, "daily") != NULL;
                weekly += strstr(items[i].reason, "weekly") != NULL;
        }
        assert_int_equal(hourly, 24);
        assert_int_equal(daily, 7);
        assert_int_equal(weekly, 4);
        /* monthly: 6 slots, only one month: the oldest consistent kept too */
        assert_string_equal(find("2026-11-01T00:17:00Z")->reason, "keep: oldest monthly 2026-11");
}

/* Two snapshots in the same second (NAME and NAME-2): the greater name is the newer. */
static void test_ties(void **state) {
        (void)state;
        qz_retention_item *a = add("2026-11-29T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention_item *b = add("2026-11-29T10:00:00Z", QZ_RETAIN_CONSISTENT);
        a->id = "20261129-100000";
        b->id = "20261129-100000-2";
        qz_retention p = {.keep_last = 1};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_false(a->keep);
        assert_true(b->keep);
        assert_string_equal(b->reason, "keep: last");
        /* the other order in the array: the same answer */
        qz_retention_item t = items[0];
        items[0] = items[1];
        items[1] = t;
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_true(items[0].keep && strcmp(items[0].id, "20261129-100000-2") == 0);
        assert_false(items[1].keep);
}

/* Ten runs in one second: NAME, NAME-2 ... NAME-10 (the -N the job's and
 * the snapshot's naming give); numbers compare as numbers, so NAME-10 is the
 * newest and NAME the oldest, in whatever order they come. */
static void test_ties_past_nine(void **state) {
        (void)state;
        static char names[10][40];
        for (int i = 0; i < 10; i++) {
                if (i == 0)
                        snprintf(names[i], sizeof(names[i]), "db-20261129T100000Z");
                else
                        snprintf(names[i], sizeof(names[i]), "db-20261129T100000Z-%d", i + 1);
        }
        const int order[10] = {3, 9, 0, 5, 1, 8, 2, 7, 4, 6}; /* shuffled */
        for (int k = 0; k < 10; k++)
                add("2026-11-29T10:00:00Z", QZ_RETAIN_CONSISTENT)->id = names[order[k]];
        qz_retention p = {.keep_last = 2};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        for (size_t i = 0; i < n_items; i++) {
                bool newest = strcmp(items[i].id, "db-20261129T100000Z-10") == 0 ||
                              strcmp(items[i].id, "db-20261129T100000Z-9") == 0;
                assert_int_equal(items[i].keep, newest);
                /* removals oldest first: NAME first, NAME-8 last */
                if (strcmp(items[i].id, "db-20261129T100000Z") == 0)
                        assert_int_equal(items[i].order, 1);
                if (strcmp(items[i].id, "db-20261129T100000Z-8") == 0)
                        assert_int_equal(items[i].order, 8);
        }
}

static void archive_entry(qz_prune_entry *e, const char *file, const char *snapshot, time_t t) {
        memset(e, 0, sizeof(*e));
        e->name = strdup(file);
        e->snapshot = strdup(snapshot);
        e->job = strdup("db");
        e->time = t;
        e->kind = QZ_RETAIN_CONSISTENT;
}

/* Two archives of one job made in the same second: db-T.tar and db-T-2.tar.
 * By file name '-' sorts before '.', which would make db-T.tar the newer;
 * the tie is broken by the snapshot's name in their sidecars, so db-T-2 is
 * the newer, kept by keep-last 1, whatever order readdir gave. */
static void test_archives_in_one_second(void **state) {
        (void)state;
        time_t t = at("2026-11-29T10:00:00Z");
        for (int flip = 0; flip < 2; flip++) {
                qz_prune_result res = {0};
                res.v = calloc(3, sizeof(*res.v));
                res.n = 3;
                archive_entry(&res.v[flip ? 0 : 2], "db-20261129T100000Z.tar", "db-20261129T100000Z", t);
                archive_entry(&res.v[1], "db-20261129T100000Z-2.tar", "db-20261129T100000Z-2", t);
                archive_entry(&res.v[flip ? 2 : 0], "db-20261129T090000Z.tar", "db-20261129T090000Z",
                              t - 3600);
                qz_retention p = {.keep_last = 1};
                assert_int_equal(qz_prune_decide(&p, &res), 0);
                /* newest first */
                assert_string_equal(res.v[0].name, "db-20261129T100000Z-2.tar");
                assert_string_equal(res.v[1].name, "db-20261129T100000Z.tar");
                assert_string_equal(res.v[2].name, "db-20261129T090000Z.tar");
                assert_true(res.v[0].keep);
                assert_false(res.v[1].keep);
                assert_false(res.v[2].keep);
                assert_int_equal(res.v[2].order, 1); /* the oldest goes first */
                assert_int_equal(res.v[1].order, 2);
                qz_prune_result_done(&res);
        }
}

/* ISO weeks: 2025-12-28 (Sunday) is 2025-W52, 2025-12-29 (Monday) 2026-W01. */
static void test_iso_weeks(void **state) {
        (void)state;
        add("2025-12-28T12:00:00Z", QZ_RETAIN_CONSISTENT);
        add("2025-12-29T12:00:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-01-04T12:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention p = {.keep_weekly = 2};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_string_equal(items[2].reason, "keep: weekly 2026-W01");
        assert_false(items[1].keep);
        assert_string_equal(items[0].reason, "keep: weekly 2025-W52");
}

/* The same instants in UTC and in a local zone (JST, UTC+9, no DST): the
 * days differ, so the decision does; and in a zone with DST (CET/CEST). */
static void test_local_time_zone(void **state) {
        (void)state;
        add("2026-11-29T21:30:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-29T23:30:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-30T00:30:00Z", QZ_RETAIN_CONSISTENT);
        add("2026-11-30T03:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention p = {.keep_daily = 2};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_string_equal(items[3].reason, "keep: daily 2026-11-30");
        assert_string_equal(items[1].reason, "keep: daily 2026-11-29");
        assert_false(items[0].keep || items[2].keep);

        setenv("TZ", "JST-9", 1);
        tzset();
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        /* all four on 2026-11-30 local: the newest, and the oldest with a slot left */
        assert_string_equal(items[3].reason, "keep: daily 2026-11-30");
        assert_string_equal(items[0].reason, "keep: oldest daily 2026-11-30");
        assert_false(items[1].keep || items[2].keep);

        /* CEST (UTC+2) in summer: 22:30Z is 00:30 the next day; in winter (CET) 23:30 */
        n_items = 0;
        setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
        tzset();
        add("2026-07-01T21:00:00Z", QZ_RETAIN_CONSISTENT); /* 23:00 on the 1st */
        add("2026-07-01T22:30:00Z", QZ_RETAIN_CONSISTENT); /* 00:30 on the 2nd */
        qz_retention q = {.keep_daily = 1};
        assert_int_equal(qz_retention_apply(&q, items, n_items), 0);
        assert_string_equal(items[1].reason, "keep: daily 2026-07-02");
        assert_false(items[0].keep);
        q.keep_hourly = 3;
        assert_int_equal(qz_retention_apply(&q, items, n_items), 0);
        assert_string_equal(items[0].reason, "keep: hourly 2026-07-01 23:00");
}

/* Pins keep what the policy would remove, crash-consistent ones too; a run
 * in progress is never touched and holds no slot. */
static void test_pins_and_in_progress(void **state) {
        (void)state;
        qz_retention_item *old = add("2026-11-01T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention_item *crash = add("2026-11-02T10:00:00Z", QZ_RETAIN_CRASH);
        add("2026-11-03T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention_item *newest = add("2026-11-04T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention_item *running = add("2026-11-05T10:00:00Z", QZ_RETAIN_IN_PROGRESS);
        running->why = "in progress (reserved by pid 77)";
        old->pinned_by = "pid 1234 (quiesce backup, since 03:10:02)";
        crash->pinned_by = "a lasting pin (quiesce snapshot pin: audit)";
        newest->pinned_by = "pid 99 (quiesce backup, since 04:00:00)";
        qz_retention p = {.keep_last = 1};
        assert_int_equal(qz_retention_apply(&p, items, n_items), 0);
        assert_string_equal(
                old->reason,
                "keep: pinned by pid 1234 (quiesce backup, since 03:10:02) (otherwise: not kept by "
                "the policy)");
        assert_true(crash->keep);
        assert_non_null(strstr(crash->reason, "crash-consistent, never counts"));
        assert_string_equal(newest->reason, "keep: last, pinned by pid 99 (quiesce backup, since 04:00:00)");
        assert_false(items[2].keep);
        assert_int_equal(items[2].order, 1);
        assert_true(running->keep);
        assert_string_equal(running->reason, "keep: in progress (reserved by pid 77), never touched");
}

static void test_empty_policy_and_describe(void **state) {
        (void)state;
        add("2026-11-01T10:00:00Z", QZ_RETAIN_CONSISTENT);
        qz_retention p = {0};
        assert_true(qz_retention_empty(&p));
        assert_int_equal(qz_retention_apply(&p, items, n_items), -EINVAL);
        char *d = qz_retention_describe(&p);
        assert_string_equal(d, "keep nothing (an empty policy)");
        free(d);
        qz_retention q = {.keep_last = 2, .keep_daily = 7, .keep_monthly = QZ_RETENTION_ALL};
        d = qz_retention_describe(&q);
        assert_string_equal(d, "keep 2 last, 7 daily, all monthly");
        free(d);
        /* unlimited: every month's newest */
        n_items = 0;
        for (int m = 1; m <= 12; m++) {
                char iso[32];
                snprintf(iso, sizeof(iso), "2026-%02d-15T10:00:00Z", m);
                add(iso, QZ_RETAIN_CONSISTENT);
                snprintf(iso, sizeof(iso), "2026-%02d-16T10:00:00Z", m);
                add(iso, QZ_RETAIN_CONSISTENT);
        }
        qz_retention all = {.keep_monthly = QZ_RETENTION_ALL};
        assert_int_equal(qz_retention_apply(&all, items, n_items), 0);
        assert_int_equal(n_kept(), 12 + 1); /* and the oldest */
        assert_false(find("2026-05-15T10:00:00Z")->keep);
        assert_true(find("2026-05-16T10:00:00Z")->keep);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_restic_twelve_sundays_keep_daily_4, setup),
                cmocka_unit_test_setup(test_restic_daily_weekly_monthly, setup),
                cmocka_unit_test_setup(test_oldest_kept_while_slots_are_left, setup),
                cmocka_unit_test_setup(test_month_with_crash_consistent, setup),
                cmocka_unit_test_setup(test_ties, setup),
                cmocka_unit_test_setup(test_ties_past_nine, setup),
                cmocka_unit_test_setup(test_archives_in_one_second, setup),
                cmocka_unit_test_setup(test_iso_weeks, setup),
                cmocka_unit_test_setup(test_local_time_zone, setup),
                cmocka_unit_test_setup(test_pins_and_in_progress, setup),
                cmocka_unit_test_setup(test_empty_policy_and_describe, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
