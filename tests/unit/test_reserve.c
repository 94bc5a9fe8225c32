/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_reserve.c - unit tests of snapshot names in the store
 * (src/snapshot/reserve.c): reservations, unique default names, stale
 * reservations, and what a scan of the store sees (src/snapshot/verify.c:
 * the state of a snapshot's storage, on plain files in a temporary dir).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "provider.h"
#include "snapshot.h"

static char *tmpdir(void) {
        char t[] = "/tmp/qz-unit-reserve-XXXXXX";
        char *d = mkdtemp(t);
        assert_non_null(d);
        return strdup(d);
}

static char *join(const char *a, const char *b) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", a, b) >= 0);
        return p;
}

static bool exists(const char *dir, const char *name) {
        char *p = join(dir, name);
        bool e = access(p, F_OK) == 0;
        free(p);
        return e;
}

static void touch(const char *dir, const char *name, const char *text) {
        char *p = join(dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        free(p);
}

static void rm_rf(const char *dir) {
        char *cmd;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) >= 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static qz_manifest *manifest(const char *name) {
        qz_manifest *m = qz_manifest_new();
        m->name = strdup(name);
        m->created = strdup("2026-12-01T18:38:23Z");
        m->provider = strdup("reflink");
        return m;
}

static void test_unique_names(void **state) {
        char *top = tmpdir(), *store = join(top, "a/store");
        _cleanup_free_ char *err = NULL;
        qz_reservation r1, r2, r3, r4;
        /* the store is made, with its parents */
        assert_int_equal(qz_snapshot_reserve_unique(store, "20261201-183823", &r1, &err), 0);
        assert_string_equal(r1.name, "20261201-183823");
        assert_true(exists(store, ".20261201-183823.reserved"));
        assert_false(r1.reclaimed);
        /* reserved by a live run (a lock held): the next one */
        assert_int_equal(qz_snapshot_reserve_unique(store, "20261201-183823", &r2, &err), 0);
        assert_string_equal(r2.name, "20261201-183823-2");
        /* a manifest takes a name too */
        qz_manifest *m = manifest("20261201-183823-3");
        assert_int_equal(qz_manifest_write(store, m), 0);
        qz_manifest_free(m);
        assert_int_equal(qz_snapshot_reserve_unique(store, "20261201-183823", &r3, &err), 0);
        assert_string_equal(r3.name, "20261201-183823-4");
        /* released: free again, and its file is gone */
        qz_reservation_release(&r1);
        assert_false(exists(store, ".20261201-183823.reserved"));
        assert_int_equal(r1.fd, -1);
        qz_reservation_release(&r1); /* idempotent */
        assert_int_equal(qz_snapshot_reserve_unique(store, "20261201-183823", &r4, &err), 0);
        assert_string_equal(r4.name, "20261201-183823");
        qz_reservation_release(&r2);
        qz_reservation_release(&r3);
        qz_reservation_release(&r4);
        /* the default name: the UTC time */
        assert_int_equal(qz_snapshot_reserve(store, NULL, &r1, &err), 0);
        assert_int_equal(strlen(r1.name), 15);
        assert_true(qz_snapshot_name_valid(r1.name));
        qz_reservation_release(&r1);
        /* only the manifest is left: a list sees no reservation */
        assert_int_equal(qz_snapshot_reserve(store, "held", &r1, &err), 0);
        qz_manifest **v;
        size_t n, bad;
        assert_int_equal(qz_manifest_list(store, &v, &n, &bad), 0);
        assert_int_equal(n, 1);
        assert_int_equal(bad, 0);
        assert_string_equal(v[0]->name, "20261201-183823-3");
        qz_manifest_list_free(v, n);
        qz_reservation_release(&r1);
        rm_rf(top);
        free(store);
        free(top);
}

static void test_explicit_names(void **state) {
        char *store = tmpdir();
        _cleanup_free_ char *err = NULL;
        char want[600];
        qz_reservation r1, r2;
        assert_int_equal(qz_snapshot_reserve(store, "nightly", &r1, &err), 0);
        /* in use by a live run: refused, naming the store, the name and the holder */
        assert_int_equal(qz_snapshot_reserve(store, "nightly", &r2, &err), -EEXIST);
        snprintf(want, sizeof(want), "pid %ld, %s/.nightly.reserved", (long)getpid(), store);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "a snapshot named nightly is being taken"));
        assert_int_equal(r2.fd, -1);
        assert_true(exists(store, ".nightly.reserved")); /* the refused run leaves it alone */
        qz_reservation_release(&r1);
        /* a manifest: refused */
        qz_manifest *m = manifest("nightly");
        assert_int_equal(qz_manifest_write(store, m), 0);
        qz_manifest_free(m);
        assert_int_equal(qz_snapshot_reserve(store, "nightly", &r2, &err), -EEXIST);
        snprintf(want, sizeof(want), "a snapshot named nightly exists already (%s/nightly.json)", store);
        assert_non_null(strstr(err, want));
        assert_false(exists(store, ".nightly.reserved"));
        /* invalid names never reach the store */
        assert_int_equal(qz_snapshot_reserve(store, "../x", &r2, &err), -EINVAL);
        assert_int_equal(qz_snapshot_reserve(store, ".x", &r2, &err), -EINVAL);
        rm_rf(store);
        free(store);
}

static void test_stale_reservations(void **state) {
        char *store = tmpdir();
        _cleanup_free_ char *err = NULL;
        qz_reservation r;
        /* a killed run's file, locked by nobody: reclaimed */
        touch(store, ".old.reserved", "99999999\n");
        assert_int_equal(qz_snapshot_reserve(store, "old", &r, &err), 0);
        assert_true(r.reclaimed);
        assert_string_equal(r.name, "old");
        qz_reservation_release(&r);
        assert_false(exists(store, ".old.reserved"));
        /* a default name's stale file is reclaimed, not skipped */
        touch(store, ".20261201-183823.reserved", "");
        assert_int_equal(qz_snapshot_reserve_unique(store, "20261201-183823", &r, &err), 0);
        assert_string_equal(r.name, "20261201-183823");
        assert_true(r.reclaimed);
        qz_reservation_release(&r);
        /* killed after writing its manifest: the name is taken, the leftover removed */
        touch(store, ".done.reserved", "1\n");
        qz_manifest *m = manifest("done");
        assert_int_equal(qz_manifest_write(store, m), 0);
        qz_manifest_free(m);
        assert_int_equal(qz_snapshot_reserve(store, "done", &r, &err), -EEXIST);
        assert_non_null(strstr(err, "exists already"));
        assert_false(exists(store, ".done.reserved"));
        /* a lock held through another open file (another process's): live */
        touch(store, ".live.reserved", "4242\n");
        char *p = qz_reservation_path(store, "live");
        int fd = open(p, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0);
        assert_int_equal(qz_snapshot_reserve(store, "live", &r, &err), -EEXIST);
        assert_non_null(strstr(err, "being taken by another quiesce (pid 4242"));
        close(fd);
        assert_int_equal(qz_snapshot_reserve(store, "live", &r, &err), 0);
        qz_reservation_release(&r);
        free(p);
        rm_rf(store);
        free(store);
}

static void test_store_removed_when_empty(void **state) {
        char *top = tmpdir(), *store = join(top, "new");
        _cleanup_free_ char *err = NULL;
        qz_reservation r;
        assert_int_equal(qz_snapshot_reserve(store, "x", &r, &err), 0);
        qz_reservation_release(&r); /* nothing written: the store it made goes too */
        assert_false(exists(top, "new"));
        mkdir(store, 0755);
        assert_int_equal(qz_snapshot_reserve(store, "x", &r, &err), 0);
        qz_reservation_release(&r); /* not made by it: kept */
        assert_true(exists(top, "new"));
        rm_rf(top);
        free(store);
        free(top);
}

/* ---- verify ---- */

static void add_fs(qz_manifest *m, const char *provider, const char *snapshot, int64_t size) {
        m->fs = realloc(m->fs, (m->n_fs + 1) * sizeof(*m->fs));
        qz_snap_fs *f = &m->fs[m->n_fs++];
        memset(f, 0, sizeof(*f));
        f->provider = strdup(provider);
        f->mountpoint = strdup("/mnt");
        f->snapshot = snapshot ? strdup(snapshot) : NULL;
        f->size_bytes = size;
}

static qz_snap_state verify1(const char *provider, const char *snapshot, int64_t size, char *reason) {
        qz_manifest *m = manifest("v");
        add_fs(m, provider, snapshot, size);
        qz_snap_check c[1];
        qz_snap_state s = qz_snapshot_verify(m, c);
        assert_int_equal(s, c[0].state);
        snprintf(reason, 512, "%s", c[0].reason);
        qz_snap_checks_done(c, 1);
        qz_manifest_free(m);
        return s;
}

static void test_verify(void **state) {
        char *dir = tmpdir(), reason[512];
        touch(dir, "img.quiesce-v", "0123456789");
        char *clone = join(dir, "img.quiesce-v"), *gone = join(dir, "gone"), *nodir = join(dir, "no/such");
        assert_int_equal(verify1("reflink", clone, 10, reason), QZ_SNAP_INTACT);
        assert_non_null(strstr(reason, "10 bytes as recorded"));
        assert_int_equal(verify1("reflink", clone, 4096, reason), QZ_SNAP_DAMAGED);
        assert_non_null(strstr(reason, "is 10 bytes, the manifest recorded 4096"));
        assert_int_equal(verify1("reflink", clone, -1, reason), QZ_SNAP_INTACT);
        assert_int_equal(verify1("reflink", dir, 10, reason), QZ_SNAP_DAMAGED);
        assert_non_null(strstr(reason, "not a regular file"));
        assert_int_equal(verify1("reflink", gone, 10, reason), QZ_SNAP_MISSING);
        assert_non_null(strstr(reason, "does not exist"));
        assert_int_equal(verify1("reflink", nodir, 10, reason), QZ_SNAP_UNKNOWN);
        assert_non_null(strstr(reason, "mounted?"));
        /* btrfs: a plain directory is no subvolume */
        assert_int_equal(verify1("btrfs", dir, -1, reason), QZ_SNAP_DAMAGED);
        assert_non_null(strstr(reason, "not a btrfs subvolume"));
        assert_int_equal(verify1("btrfs", gone, -1, reason), QZ_SNAP_MISSING);
        /* exec: a path is checked, anything else cannot be */
        assert_int_equal(verify1("exec", clone, -1, reason), QZ_SNAP_INTACT);
        assert_int_equal(verify1("exec", gone, -1, reason), QZ_SNAP_MISSING);
        assert_int_equal(verify1("exec", "s3://bucket/snap", -1, reason), QZ_SNAP_UNKNOWN);
        /* lvm: a manifest without LV names cannot be checked */
        assert_int_equal(verify1("lvm", "/dev/vg/lv-qz-v", -1, reason), QZ_SNAP_UNKNOWN);
        assert_int_equal(verify1("nosuch", clone, -1, reason), QZ_SNAP_UNKNOWN);
        assert_int_equal(verify1("reflink", NULL, -1, reason), QZ_SNAP_MISSING);
        assert_non_null(strstr(reason, "never made"));

        /* the snapshot's state is its worst filesystem's */
        qz_manifest *m = manifest("v");
        assert_int_equal(qz_snapshot_verify(m, NULL), QZ_SNAP_MISSING); /* no filesystem at all */
        add_fs(m, "reflink", clone, 10);
        assert_int_equal(qz_snapshot_verify(m, NULL), QZ_SNAP_INTACT);
        add_fs(m, "exec", "token", -1);
        assert_int_equal(qz_snapshot_verify(m, NULL), QZ_SNAP_UNKNOWN);
        add_fs(m, "reflink", clone, 11);
        assert_int_equal(qz_snapshot_verify(m, NULL), QZ_SNAP_DAMAGED);
        add_fs(m, "reflink", gone, 11);
        qz_snap_check c[4];
        assert_int_equal(qz_snapshot_verify(m, c), QZ_SNAP_MISSING);
        assert_int_equal(c[0].state, QZ_SNAP_INTACT);
        assert_int_equal(c[3].state, QZ_SNAP_MISSING);
        qz_snap_checks_done(c, 4);
        qz_manifest_free(m);
        assert_string_equal(qz_snap_state_name(QZ_SNAP_INTACT), "intact");
        assert_string_equal(qz_snap_state_name(QZ_SNAP_MISSING), "missing");
        assert_string_equal(qz_snap_state_name(QZ_SNAP_DAMAGED), "damaged");
        assert_string_equal(qz_snap_state_name(QZ_SNAP_UNKNOWN), "unknown");
        rm_rf(dir);
        free(clone);
        free(gone);
        free(nodir);
        free(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unique_names),
                cmocka_unit_test(test_explicit_names),
                cmocka_unit_test(test_stale_reservations),
                cmocka_unit_test(test_store_removed_when_empty),
                cmocka_unit_test(test_verify),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
