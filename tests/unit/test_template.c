/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_template.c - command templates (src/common/template.c): splitting on
 * blanks, and the one placeholder rule: a known {word} is replaced, an
 * unknown one is refused by name, any other brace is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "template.h"

static const qz_placeholder vars[] = {
        {"name", "snap 1"}, {"device", "/dev/vg/lv"}, {"mountpoint", "/srv/a b"}, {"label", NULL}};
#define N_VARS (sizeof(vars) / sizeof(vars[0]))

static void test_split(void **state) {
        (void)state;
        size_t n;
        char **v = qz_template_split("  lvcreate --snapshot\t--name {name}  {device} ", &n);
        assert_int_equal(n, 5);
        assert_string_equal(v[0], "lvcreate");
        assert_string_equal(v[3], "{name}");
        assert_null(v[5]);
        qz_strv_free(v);
        v = qz_template_split("   ", &n);
        assert_int_equal(n, 0);
        assert_null(v[0]);
        qz_strv_free(v);
}

static void test_substitute(void **state) {
        (void)state;
        char *bad;
        char *out = qz_template_substitute("{mountpoint}/x-{name}", vars, N_VARS, &bad);
        assert_string_equal(out, "/srv/a b/x-snap 1"); /* one argument, spaces and all */
        assert_null(bad);
        free(out);
        out = qz_template_substitute("{{device}}", vars, N_VARS, &bad);
        assert_string_equal(out, "{/dev/vg/lv}");
        free(out);
        out = qz_template_substitute("[{label}]", vars, N_VARS, &bad); /* no value: empty */
        assert_string_equal(out, "[]");
        free(out);
}

static void test_other_braces_are_kept(void **state) {
        (void)state;
        char *bad;
        char *out = qz_template_substitute("{NotAPlaceholder} {} { name} {name-x} {", vars, N_VARS, &bad);
        assert_string_equal(out, "{NotAPlaceholder} {} { name} {name-x} {");
        free(out);
}

static void test_unknown_is_refused(void **state) {
        (void)state;
        char *bad;
        assert_null(qz_template_substitute("{fstyp}", vars, N_VARS, &bad));
        assert_string_equal(bad, "{fstyp}");
        free(bad);
        assert_null(qz_template_substitute("x{name}{x}", vars, N_VARS, &bad));
        assert_string_equal(bad, "{x}");
        free(bad);
        char *argv[] = {"restic", "--tag", "{name}", "{paht}", NULL};
        bad = qz_template_unknown(argv, 4, vars, N_VARS);
        assert_string_equal(bad, "{paht}");
        free(bad);
        assert_null(qz_template_unknown(argv, 3, vars, N_VARS));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_substitute),
                cmocka_unit_test(test_other_braces_are_kept),
                cmocka_unit_test(test_unknown_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
