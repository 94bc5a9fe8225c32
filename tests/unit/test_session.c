/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_session.c - unit tests of the --session line protocol's helper side
 * (src/writers/session.c): phase lines in, answer lines out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static void test_phase_parse(void **state) {
        (void)state;
        assert_int_equal(qz_phase_parse("prepare"), QZ_PHASE_PREPARE);
        assert_int_equal(qz_phase_parse("freeze\n"), QZ_PHASE_FREEZE);
        assert_int_equal(qz_phase_parse("thaw\r\n"), QZ_PHASE_THAW);
        assert_int_equal(qz_phase_parse("abort"), QZ_PHASE_ABORT);
        assert_int_equal(qz_phase_parse(""), QZ_PHASE_INVALID);
        assert_int_equal(qz_phase_parse("freeze "), QZ_PHASE_INVALID);
        assert_int_equal(qz_phase_parse("FREEZE"), QZ_PHASE_INVALID);
        assert_int_equal(qz_phase_parse("freezer"), QZ_PHASE_INVALID);
        assert_int_equal(qz_phase_parse("free"), QZ_PHASE_INVALID);
        assert_int_equal(qz_phase_parse("thaw\rx"), QZ_PHASE_INVALID);
        assert_string_equal(qz_phase_name(QZ_PHASE_THAW), "thaw");
        assert_string_equal(qz_phase_name(QZ_PHASE_INVALID), "invalid");
}

static void expect_line(qz_answer a, const char *text, const char *want) {
        char *s = qz_answer_line(a, text);
        assert_string_equal(s, want);
        free(s);
}

static void test_answer_line(void **state) {
        (void)state;
        expect_line(QZ_ANSWER_OK, NULL, "ok\n");
        expect_line(QZ_ANSWER_OK, "", "ok\n");
        expect_line(QZ_ANSWER_OK, "binlog=binlog.000001:328", "ok binlog=binlog.000001:328\n");
        expect_line(QZ_ANSWER_VETO, "a schema change is running", "veto a schema change is running\n");
        expect_line(QZ_ANSWER_FAIL, NULL, "fail no reason given\n");
        expect_line(QZ_ANSWER_VETO, "", "veto no reason given\n");
        /* a multi-line server message stays one line */
        expect_line(QZ_ANSWER_FAIL, "CHECKPOINT: no\nsecond\tline\r", "fail CHECKPOINT: no second line \n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_phase_parse),
                cmocka_unit_test(test_answer_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
