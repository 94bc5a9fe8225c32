/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_throttle.c - the pure parts of the pre-flush throttle: the limit
 * it sets for a bdi's dirty amount, and the parsing of debugfs bdi stats
 * (what the ramp reads every 20 ms). The sysfs side is tested
 * on the real kernel (tests/integration/test_throttle.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "log.h"
#include "throttle.h"

/* throttle.c's collaborators, never reached by these tests. */
int qz_guard_bdi_save(int sock, uint64_t key, int dirfd, uint32_t strict, uint32_t ratio_fine) {
        (void)sock, (void)key, (void)dirfd, (void)strict, (void)ratio_fine;
        return -1;
}
int qz_guard_bdi_done(int sock, uint64_t key) {
        (void)sock, (void)key;
        return -1;
}
void qz_log(int level, const char *fmt, ...) {
        (void)level, (void)fmt;
}

static void test_limit(void **state) {
        (void)state;
        assert_int_equal(qz_throttle_limit(-1), QZ_THROTTLE_FLOOR);
        assert_int_equal(qz_throttle_limit(0), QZ_THROTTLE_FLOOR);
        assert_int_equal(qz_throttle_limit(20LL << 20), QZ_THROTTLE_FLOOR); /* 24 MiB < floor */
        assert_int_equal(qz_throttle_limit(1000LL << 20), 1200LL << 20);
        assert_int_equal(qz_throttle_limit(5), QZ_THROTTLE_FLOOR);
}

static void test_bdi_stats(void **state) {
        (void)state;
        /* the layout of mm/backing-dev.c's bdi_debug_stats_show */
        const char *text = "BdiWriteback:             2048 kB\n"
                           "BdiReclaimable:         102400 kB\n"
                           "BdiDirtyThresh:         300000 kB\n"
                           "DirtyThresh:            900000 kB\n"
                           "BackgroundThresh:       450000 kB\n"
                           "BdiDirtied:            9999999 kB\n"
                           "BdiWritten:            9000000 kB\n"
                           "BdiWriteBandwidth:      123456 kBps\n";
        assert_int_equal(qz_throttle_parse_bdi_stats(text), (2048LL + 102400) * 1024);
        assert_int_equal(qz_throttle_parse_bdi_stats("BdiWriteback: 1 kB\n"), -1); /* one half missing */
        assert_int_equal(qz_throttle_parse_bdi_stats(""), -1);
        assert_int_equal(qz_throttle_parse_bdi_stats("BdiWriteback: x kB\nBdiReclaimable: 1 kB\n"), -1);
        /* a longer key with the same prefix is not the key */
        assert_int_equal(qz_throttle_parse_bdi_stats(
                                 "BdiWritebackX: 7 kB\nBdiWriteback: 1 kB\nBdiReclaimable: 2 kB\n"),
                         3 * 1024);
}

/* Disabled or without a guard, nothing is ever throttled. */
static void test_disabled(void **state) {
        (void)state;
        qz_throttle *t = qz_throttle_new(-1, true, NULL);
        assert_non_null(t);
        assert_null(qz_throttle_begin(t, "7:0"));
        qz_throttle_free(t);
        t = qz_throttle_new(3, false, NULL);
        assert_null(qz_throttle_begin(t, "7:0"));
        qz_throttle_end(t, NULL);
        qz_throttle_free(t);
        assert_null(qz_throttle_begin(NULL, "7:0"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_limit),
                cmocka_unit_test(test_bdi_stats),
                cmocka_unit_test(test_disabled),
        };
        return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
