/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_label.c - unit tests of the consistency label (src/snapshot/label.c):
 * every rule of DESIGN.md's "Consistency labels", and which one wins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "label.h"

/* Two filesystems frozen throughout, two freeze hooks that succeeded. */
static qz_label_input good(void) {
        return (qz_label_input){.n_fs = 2, .n_fs_consistent = 2, .n_freeze_hooks = 2};
}

static void test_application(void **state) {
        (void)state;
        qz_label_input in = good();
        const char *why = NULL;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_APPLICATION);
        assert_non_null(why);
        assert_string_equal(qz_label_name(QZ_LABEL_APPLICATION), "application-consistent");
}

static void test_no_hooks_is_filesystem(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_freeze_hooks = 0;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_FILESYSTEM);
}

static void test_failed_hook_is_filesystem(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_freeze_hooks_failed = 1; /* refused, timed out or non-zero: all count */
        const char *why;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_FILESYSTEM);
        assert_non_null(strstr(why, "hook"));
        in.n_freeze_hooks_failed = 2;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_FILESYSTEM);
}

static void test_writers(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_freeze_hooks = 0; /* writers alone can make it application-consistent */
        in.n_writers = 2;
        const char *why;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_APPLICATION);
        assert_non_null(strstr(why, "writer"));
        /* no hook ran: the reason must not claim that every hook succeeded */
        assert_null(strstr(why, "hook succeeded"));
        assert_non_null(strstr(why, "no freeze hook"));
        in.n_writers_unacked = 1; /* silent, failed, late, or gone before its thaw */
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_FILESYSTEM);
        assert_non_null(strstr(why, "writer"));
        in.n_fs_broken = 1; /* a breach is worse than any writer */
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
        in = good();
        in.n_writers = 1;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_APPLICATION);
        assert_non_null(strstr(why, "every freeze hook succeeded")); /* hooks ran, and writers */
        assert_non_null(strstr(why, "writer"));
        in.n_freeze_hooks_failed = 1;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_FILESYSTEM);
        assert_non_null(strstr(why, "hook"));
}

static void test_not_frozen_throughout_is_crash(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_fs_consistent = 1; /* one hold expired or was force-thawed */
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
        in.n_fs_consistent = 0;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
}

static void test_breach_is_crash(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_fs_broken = 1; /* still in the hold, but the proof found the freeze lifted */
        const char *why;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_CRASH);
        assert_non_null(strstr(why, "lifted by another process"));
}

static void test_no_freeze_is_crash(void **state) {
        (void)state;
        qz_label_input in = good();
        in.no_freeze = true; /* even with every hook fine */
        const char *why;
        assert_int_equal(qz_label_decide(&in, &why), QZ_LABEL_CRASH);
        assert_non_null(strstr(why, "--no-freeze"));
}

static void test_freeze_failed_is_crash(void **state) {
        (void)state;
        qz_label_input in = good();
        in.freeze_failed = true;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
}

static void test_provider_failed_is_crash(void **state) {
        (void)state;
        qz_label_input in = good();
        in.provider_failed = true;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
}

static void test_crash_wins_over_hooks(void **state) {
        (void)state;
        qz_label_input in = good();
        in.n_freeze_hooks_failed = 1;
        in.n_fs_consistent = 1;
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
}

static void test_nothing_snapshotted_is_crash(void **state) {
        (void)state;
        qz_label_input in = {0};
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_CRASH);
}

static void test_atomic_btrfs_counts_as_consistent(void **state) {
        (void)state;
        /* the caller counts an atomic btrfs snapshot as consistent: not frozen, yet whole */
        qz_label_input in = {.n_fs = 1, .n_fs_consistent = 1, .n_freeze_hooks = 1};
        assert_int_equal(qz_label_decide(&in, NULL), QZ_LABEL_APPLICATION);
}

static void test_names_round_trip(void **state) {
        (void)state;
        qz_label l;
        for (int i = QZ_LABEL_APPLICATION; i <= QZ_LABEL_CRASH; i++) {
                assert_int_equal(qz_label_from_name(qz_label_name((qz_label)i), &l), 0);
                assert_int_equal(l, i);
        }
        assert_int_equal(qz_label_from_name("consistent", &l), -1);
        assert_int_equal(qz_label_from_name(NULL, &l), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_application),
                cmocka_unit_test(test_no_hooks_is_filesystem),
                cmocka_unit_test(test_failed_hook_is_filesystem),
                cmocka_unit_test(test_writers),
                cmocka_unit_test(test_not_frozen_throughout_is_crash),
                cmocka_unit_test(test_breach_is_crash),
                cmocka_unit_test(test_no_freeze_is_crash),
                cmocka_unit_test(test_freeze_failed_is_crash),
                cmocka_unit_test(test_provider_failed_is_crash),
                cmocka_unit_test(test_crash_wins_over_hooks),
                cmocka_unit_test(test_nothing_snapshotted_is_crash),
                cmocka_unit_test(test_atomic_btrfs_counts_as_consistent),
                cmocka_unit_test(test_names_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
