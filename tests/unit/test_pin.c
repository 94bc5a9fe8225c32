/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_pin.c - unit tests of pins (src/snapshot/pin.c) on plain files in a
 * temporary store: a lease held by a child process is seen and described,
 * dies with the child (SIGKILL) and is then removed as stale; a lasting pin
 * is written, refused twice, survives (a file), and is removed; leases of
 * other snapshots with similar names are not mixed up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pin.h"
#include "snapshot.h"

static char store[64];

static void write_manifest(const char *name) {
        qz_manifest *m = qz_manifest_new();
        m->name = strdup(name);
        m->created = strdup("2026-11-29T03:10:00Z");
        assert_int_equal(qz_manifest_write(store, m), 0);
        qz_manifest_free(m);
}

static int setup(void **state) {
        (void)state;
        snprintf(store, sizeof(store), "/tmp/qz-unit-pin-XXXXXX");
        assert_non_null(mkdtemp(store));
        write_manifest("db-1");
        write_manifest("db-1.2"); /* its leases look like db-1's to a careless match */
        return 0;
}

static int teardown(void **state) {
        (void)state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", store);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static size_t count(const char *name, char **desc) {
        qz_pin *v;
        size_t n;
        assert_int_equal(qz_pins_get(store, name, &v, &n), 0);
        if (desc)
                *desc = qz_pins_describe(v, n);
        qz_pins_free(v, n);
        return n;
}

static void test_lease_dies_with_its_process(void **state) {
        (void)state;
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                qz_lease l;
                char *err = NULL;
                if (qz_lease_take(store, "db-1.2", "test child", "reading it", &l, &err) < 0)
                        _exit(1);
                if (write(ready[1], "x", 1) != 1)
                        _exit(1);
                pause();
                _exit(0);
        }
        close(ready[1]);
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);

        char *d = NULL;
        assert_int_equal(count("db-1", NULL), 0); /* db-1.2's lease is not db-1's */
        assert_int_equal(count("db-1.2", &d), 1);
        char want[64];
        snprintf(want, sizeof(want), "pid %ld (test child, since ", (long)child);
        assert_non_null(strstr(d, want));
        assert_non_null(strstr(d, ", reading it)"));
        free(d);

        assert_int_equal(kill(child, SIGKILL), 0);
        assert_int_equal(waitpid(child, NULL, 0), child);
        assert_int_equal(count("db-1.2", NULL), 0);
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s/" QZ_LEASES_DIR ")\"", store);
        assert_int_equal(system(cmd), 0); /* the stale lease was removed */
}

static void test_own_lease_and_release(void **state) {
        (void)state;
        qz_lease l;
        char *err = NULL;
        assert_int_equal(qz_lease_take(store, "db-1", "quiesce backup", NULL, &l, &err), 0);
        assert_null(err);
        qz_lease l2;
        assert_int_equal(qz_lease_take(store, "db-1", "quiesce backup", NULL, &l2, &err), 0);
        assert_int_equal(count("db-1", NULL), 2); /* a process may hold two */
        qz_lease_release(&l2);
        assert_int_equal(count("db-1", NULL), 1);
        qz_lease_release(&l);
        qz_lease_release(&l); /* idempotent */
        assert_int_equal(count("db-1", NULL), 0);
        assert_int_equal(qz_lease_take(store, "nosuch", "x", NULL, &l, &err), -ENOENT);
        assert_non_null(strstr(err, "no such snapshot"));
        free(err);
}

static void test_lasting_pin(void **state) {
        (void)state;
        char *err = NULL, *d = NULL;
        assert_int_equal(qz_pin_add(store, "db-1", "legal hold", &err), 0);
        assert_int_equal(count("db-1", &d), 1);
        assert_non_null(strstr(d, "a lasting pin (since "));
        assert_non_null(strstr(d, ": legal hold)"));
        free(d);
        assert_int_equal(qz_pin_add(store, "db-1", NULL, &err), -EEXIST);
        assert_non_null(strstr(err, "pinned already"));
        free(err);
        err = NULL;
        assert_int_equal(qz_pin_add(store, "gone", NULL, &err), -ENOENT);
        free(err);
        err = NULL;
        assert_int_equal(qz_pin_remove(store, "db-1", &err), 0);
        assert_int_equal(count("db-1", NULL), 0);
        assert_int_equal(qz_pin_remove(store, "db-1", &err), -ENOENT);
        assert_non_null(strstr(err, "has no lasting pin"));
        free(err);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lease_dies_with_its_process, setup, teardown),
                cmocka_unit_test_setup_teardown(test_own_lease_and_release, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lasting_pin, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
