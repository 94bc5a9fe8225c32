/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_duration.c - unit tests of duration parsing and formatting
 * (src/common/duration.c): the forms users type, and the ones refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "quiesce.h"

static void test_parse(void **state) {
        (void)state;
        static const struct {
                const char *text;
                int64_t ms;
        } ok[] = {
                {"500ms", 500},     {"10s", 10000},   {"2m", 120000},           {"1h", 3600000},
                {"90min", 5400000}, {"1d", 86400000}, {"1.5d", 129600000},      {"365d", 365LL * 86400000},
                {"7", 7000},        {"1.5s", 1500},   {"none", QZ_NO_DEADLINE},
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                int64_t ms = -2;
                assert_int_equal(qz_parse_duration(ok[i].text, &ms), 0);
                assert_int_equal(ms, ok[i].ms);
        }
}

static void test_parse_refuses(void **state) {
        (void)state;
        int64_t ms = 42;
        const char *bad[] = {"",    "-1s",    "s", "10x", "10 s", "ms", "1e400",
                             "abc", "10sec5", "d", "1dd", "1 d",  NULL};
        for (int i = 0; bad[i]; i++)
                assert_int_not_equal(qz_parse_duration(bad[i], &ms), 0);
        assert_int_equal(qz_parse_duration("100000000h", &ms), -ERANGE);
        assert_int_equal(qz_parse_duration("366d", &ms), -ERANGE);
        assert_int_equal(ms, 42); /* untouched on failure */
}

static void test_format(void **state) {
        (void)state;
        char buf[32];
        assert_string_equal(qz_format_duration(250, buf, sizeof(buf)), "250ms");
        assert_string_equal(qz_format_duration(999, buf, sizeof(buf)), "999ms");
        assert_string_equal(qz_format_duration(1500, buf, sizeof(buf)), "1.5s");
        assert_string_equal(qz_format_duration(2000, buf, sizeof(buf)), "2s");
        assert_string_equal(qz_format_duration(59900, buf, sizeof(buf)), "59.9s");
        assert_string_equal(qz_format_duration(60000, buf, sizeof(buf)), "1m");
        assert_string_equal(qz_format_duration(125000, buf, sizeof(buf)), "2m05s");
        assert_string_equal(qz_format_duration(3600000, buf, sizeof(buf)), "1h");
        assert_string_equal(qz_format_duration(5400000, buf, sizeof(buf)), "1h30m");
        assert_string_equal(qz_format_duration(-1, buf, sizeof(buf)), "none");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_refuses),
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
