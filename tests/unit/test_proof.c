/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_proof.c - the judgement of a freeze probe (src/daemon/proof.c) for
 * every combination of its two signals, whose freeze is in place after
 * it, the breach sentence, and the block device stat parser.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockstat.h"
#include "proof.h"

static qz_probe probe(bool ioctl, int err, bool have, uint64_t sectors) {
        return (qz_probe){.ioctl = ioctl, .err = err, .have_sectors = have, .sectors = sectors};
}

/* The table in proof.c, row by row, with and without the counter. */
static void test_judge_table(void **state) {
        (void)state;
        qz_probe p;
        /* FIFREEZE froze it: lifted, whatever the counter says */
        p = probe(true, 0, true, 100);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_LIFTED);
        p = probe(true, 0, true, 140);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_LIFTED);
        p = probe(true, 0, false, 0);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_LIFTED);
        /* EBUSY and the counter still: held */
        p = probe(true, -EBUSY, true, 100);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_HELD);
        p = probe(true, -EBUSY, false, 0);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_HELD);
        /* EBUSY but written: thawed and frozen again by someone else */
        p = probe(true, -EBUSY, true, 108);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_REPLACED);
        /* a counter that went back (device reset) moved too */
        p = probe(true, -EBUSY, true, 20);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_REPLACED);
        /* the counter alone */
        p = probe(false, 0, true, 100);
        assert_int_equal(qz_proof_judge(false, 100, &p), QZ_VERDICT_HELD);
        p = probe(false, 0, true, 101);
        assert_int_equal(qz_proof_judge(false, 100, &p), QZ_VERDICT_WRITTEN);
        /* FIFREEZE failed otherwise */
        p = probe(true, -EINVAL, true, 100);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_UNKNOWN);
        p = probe(true, -EINVAL, true, 102);
        assert_int_equal(qz_proof_judge(true, 100, &p), QZ_VERDICT_WRITTEN);
}

static void test_owner_after(void **state) {
        (void)state;
        assert_true(qz_proof_ours_after(false, QZ_VERDICT_LIFTED));
        assert_true(qz_proof_ours_after(true, QZ_VERDICT_LIFTED));
        assert_false(qz_proof_ours_after(true, QZ_VERDICT_REPLACED));
        assert_true(qz_proof_ours_after(true, QZ_VERDICT_HELD));
        assert_false(qz_proof_ours_after(false, QZ_VERDICT_HELD));
        assert_true(qz_proof_ours_after(true, QZ_VERDICT_WRITTEN));
        assert_true(qz_proof_ours_after(true, QZ_VERDICT_UNKNOWN));
}

static void test_breaches(void **state) {
        (void)state;
        assert_true(qz_verdict_is_breach(QZ_VERDICT_LIFTED));
        assert_true(qz_verdict_is_breach(QZ_VERDICT_REPLACED));
        assert_true(qz_verdict_is_breach(QZ_VERDICT_WRITTEN));
        assert_false(qz_verdict_is_breach(QZ_VERDICT_HELD));
        assert_false(qz_verdict_is_breach(QZ_VERDICT_UNKNOWN));
        assert_string_equal(qz_verdict_name(QZ_VERDICT_REPLACED), "replaced");
}

static void test_sentences(void **state) {
        (void)state;
        char *buf = qz_proof_describe("ext4 7:1 (mounted at /srv/data)", QZ_VERDICT_LIFTED, 612, "loop1",
                                      true, 24);
        assert_non_null(strstr(buf, "the freeze of ext4 7:1 (mounted at /srv/data) was lifted by another "
                                    "process 0.6 s after it began"));
        assert_non_null(strstr(buf, "24 sectors written on loop1 since the freeze"));
        assert_non_null(strstr(buf, "quiesced froze it again"));
        free(buf);
        buf = qz_proof_describe("xfs 7:2 (mounted at /b)", QZ_VERDICT_REPLACED, 1530, "loop2", true, 1);
        assert_non_null(strstr(buf, "1.5 s after it began"));
        assert_non_null(strstr(buf, "1 sector written on loop2"));
        assert_non_null(strstr(buf, "is left alone"));
        free(buf);
        buf = qz_proof_describe("btrfs 0:55 (mounted at /c)", QZ_VERDICT_WRITTEN, 80, NULL, false, 0);
        assert_non_null(strstr(buf, "no write counter"));
        free(buf);
        char a[16];
        qz_probe p = probe(true, -EBUSY, true, 1);
        assert_string_equal(qz_probe_answer(&p, a, sizeof(a)), "EBUSY");
        p = probe(true, 0, true, 1);
        assert_string_equal(qz_probe_answer(&p, a, sizeof(a)), "froze it");
        p = probe(false, 0, true, 1);
        assert_string_equal(qz_probe_answer(&p, a, sizeof(a)), "not probed");
}

static void test_stat_parse(void **state) {
        (void)state;
        uint64_t s = 0;
        /* /sys/block/loop1/stat as 6.x prints it: 17 fields, sectors written 7th */
        assert_int_equal(
                qz_blockstat_parse("     189        0     9066      121      577      120    46264     1095"
                                   "        0      964     1228        0        0        0        0"
                                   "        0        0\n",
                                   &s),
                0);
        assert_int_equal(s, 46264);
        assert_int_equal(qz_blockstat_parse("1 2 3", &s), -EINVAL);
        assert_int_equal(qz_blockstat_parse("", &s), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_judge_table), cmocka_unit_test(test_owner_after),
                cmocka_unit_test(test_breaches),    cmocka_unit_test(test_sentences),
                cmocka_unit_test(test_stat_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
