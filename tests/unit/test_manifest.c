/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_manifest.c - unit tests of snapshot manifests and names
 * (src/snapshot/manifest.c): JSON round trip, atomic write that refuses to
 * replace, listing, names; and the exec template's splitting and placeholders.
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
#include <unistd.h>

#include "provider.h"
#include "snapshot.h"

static char *s(const char *x) {
        return x ? strdup(x) : NULL;
}

static qz_manifest *sample(const char *name) {
        qz_manifest *m = qz_manifest_new();
        m->name = s(name);
        m->created = s("2026-11-22T11:15:00Z");
        m->label = QZ_LABEL_APPLICATION;
        m->label_reason = s("because");
        m->provider = s("reflink");
        m->hold = 12;
        m->duration_ms = 180;
        m->frozen_ms = 95;
        m->n_fs = 1;
        m->fs = calloc(1, sizeof(*m->fs));
        qz_snap_fs *f = &m->fs[0];
        f->path = s("/srv/data");
        f->mountpoint = s("/srv/data");
        strcpy(f->id, "7:1");
        f->fstype = s("ext4");
        f->source = s("/dev/loop1");
        f->backing_file = s("/pool/data.img");
        f->provider = s("reflink");
        f->snapshot = s("/pool/data.img.quiesce-x");
        f->size_bytes = 1073741824;
        f->stall_ms = 3;
        f->frozen_ms = 95;
        f->frozen = f->frozen_throughout = true;
        f->proof = (qz_snap_proof){.known = true,
                                   .held = true,
                                   .probe = s("EBUSY"),
                                   .probe_ms = 1530,
                                   .device = s("loop1"),
                                   .sectors_written = 0};
        m->n_hooks = 1;
        m->hooks = calloc(1, sizeof(*m->hooks));
        m->hooks[0].name = s("10-postgres");
        m->hooks[0].phase = s("freeze");
        m->hooks[0].exit_status = 0;
        m->hooks[0].duration_ms = 31;
        m->hooks[0].output = s("CHECKPOINT\n\"quoted\"\n");
        m->n_notes = 1;
        m->notes = calloc(1, sizeof(*m->notes));
        m->notes[0] = s("a note");
        return m;
}

static void test_round_trip(void **state) {
        (void)state;
        qz_manifest *m = sample("20261122-111500"), *back;
        char *text = qz_manifest_to_json(m);
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        assert_string_equal(back->name, "20261122-111500");
        assert_int_equal(back->label, QZ_LABEL_APPLICATION);
        assert_int_equal(back->hold, 12);
        assert_int_equal(back->frozen_ms, 95);
        assert_int_equal(back->n_fs, 1);
        assert_string_equal(back->fs[0].id, "7:1");
        assert_string_equal(back->fs[0].backing_file, "/pool/data.img");
        assert_int_equal(back->fs[0].size_bytes, 1073741824);
        assert_true(back->fs[0].frozen_throughout);
        assert_null(back->fs[0].error);
        assert_int_equal(back->n_hooks, 1);
        assert_string_equal(back->hooks[0].output, "CHECKPOINT\n\"quoted\"\n");
        assert_int_equal(back->hooks[0].exit_status, 0);
        assert_int_equal(back->n_notes, 1);
        char *again = qz_manifest_to_json(back);
        assert_string_equal(text, again);
        assert_false(qz_manifest_incomplete(back));
        free(again);
        free(text);
        qz_manifest_free(back);
        qz_manifest_free(m);
}

/* The proof survives the round trip, and a recorded breach lowers the
 * label the evidence supports, whatever the label field says. */
static void test_proof_round_trip_and_proven_label(void **state) {
        (void)state;
        qz_manifest *m = sample("p"), *back;
        char *text = qz_manifest_to_json(m);
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        const qz_snap_proof *p = &back->fs[0].proof;
        assert_true(p->known);
        assert_true(p->held);
        assert_string_equal(p->probe, "EBUSY");
        assert_int_equal(p->probe_ms, 1530);
        assert_string_equal(p->device, "loop1");
        assert_int_equal(p->sectors_written, 0);
        assert_null(p->breach);
        const char *why = "x";
        assert_int_equal(qz_manifest_proven_label(back, &why), QZ_LABEL_APPLICATION);
        assert_null(why);
        qz_manifest_free(back);
        free(text);

        m->fs[0].proof.held = false;
        m->fs[0].proof.breaches = 1;
        m->fs[0].proof.breach = s("the freeze of ext4 7:1 (mounted at /srv/data) was lifted");
        text = qz_manifest_to_json(m);
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        assert_false(back->fs[0].proof.held);
        assert_int_equal(back->fs[0].proof.breaches, 1);
        assert_int_equal(back->label, QZ_LABEL_APPLICATION); /* as written */
        assert_int_equal(qz_manifest_proven_label(back, &why), QZ_LABEL_CRASH);
        assert_non_null(strstr(why, "was lifted"));
        qz_manifest_free(back);
        free(text);
        qz_manifest_free(m);
}

/* The job a snapshot belongs to: written when there is one, read back, and
 * absent (NULL) in an older manifest that has no "job" key. */
static void test_job_round_trip(void **state) {
        (void)state;
        qz_manifest *m = sample("j"), *back;
        char *text = qz_manifest_to_json(m);
        assert_null(strstr(text, "\"job\""));
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        assert_null(back->job);
        qz_manifest_free(back);
        free(text);

        m->job = s("nightly-db");
        text = qz_manifest_to_json(m);
        assert_non_null(strstr(text, "\"job\": \"nightly-db\""));
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        assert_string_equal(back->job, "nightly-db");
        char *again = qz_manifest_to_json(back);
        assert_string_equal(text, again);
        free(again);
        qz_manifest_free(back);
        free(text);
        qz_manifest_free(m);
}

static void test_unknowns_are_null(void **state) {
        (void)state;
        qz_manifest *m = sample("n"), *back;
        m->hold = -1;
        m->fs[0].size_bytes = -1;
        m->fs[0].stall_ms = -1;
        m->hooks[0].exit_status = -1;
        char *text = qz_manifest_to_json(m);
        assert_non_null(strstr(text, "\"hold\": null"));
        assert_non_null(strstr(text, "\"size_bytes\": null"));
        assert_int_equal(qz_manifest_from_json(text, &back), 0);
        assert_int_equal(back->hold, -1);
        assert_int_equal(back->fs[0].size_bytes, -1);
        assert_int_equal(back->hooks[0].exit_status, -1);
        free(text);
        qz_manifest_free(back);
        qz_manifest_free(m);
}

static void test_refuses_non_manifests(void **state) {
        (void)state;
        qz_manifest *m;
        assert_int_equal(qz_manifest_from_json("[]", &m), -EBADMSG);
        assert_int_equal(qz_manifest_from_json(
                                 "{\"format\": 2, \"name\": \"x\", \"label\": \"crash-consistent\"}", &m),
                         -EBADMSG);
        assert_int_equal(qz_manifest_from_json("{\"format\": 1, \"name\": \"x\", \"label\": \"great\"}", &m),
                         -EBADMSG);
        assert_int_equal(qz_manifest_from_json("not json", &m), -EBADMSG);
        assert_int_equal(qz_manifest_from_json(
                                 "{\"format\": 1, \"name\": \"x\", \"label\": \"crash-consistent\"}", &m),
                         0);
        assert_true(qz_manifest_incomplete(m)); /* no filesystems */
        qz_manifest_free(m);
}

static void test_store_write_list_load(void **state) {
        (void)state;
        char dir[] = "/tmp/qz-unit-store-XXXXXX";
        assert_non_null(mkdtemp(dir));
        qz_manifest *a = sample("b-second"), *b = sample("a-first"), *dup = sample("a-first");
        assert_int_equal(qz_manifest_write(dir, a), 0);
        assert_non_null(a->file);
        assert_int_equal(qz_manifest_write(dir, b), 0);
        assert_int_equal(qz_manifest_write(dir, dup), -EEXIST); /* never replaced */
        assert_true(qz_manifest_exists(dir, "a-first"));
        assert_false(qz_manifest_exists(dir, "nope"));

        char junk[512];
        snprintf(junk, sizeof(junk), "%s/junk.json", dir);
        FILE *f = fopen(junk, "w");
        fputs("{}", f);
        fclose(f);

        qz_manifest **v;
        size_t n, bad;
        assert_int_equal(qz_manifest_list(dir, &v, &n, &bad), 0);
        assert_int_equal(n, 2);
        assert_int_equal(bad, 1);
        assert_string_equal(v[0]->name, "a-first");
        assert_string_equal(v[1]->name, "b-second");
        qz_manifest_list_free(v, n);

        qz_manifest *l;
        assert_int_equal(qz_manifest_load(dir, "b-second", &l), 0);
        assert_string_equal(l->fs[0].snapshot, "/pool/data.img.quiesce-x");
        qz_manifest_free(l);
        assert_int_equal(qz_manifest_load(dir, "missing", &l), -ENOENT);
        assert_int_equal(qz_manifest_load(dir, "../etc/passwd", &l), -ENOENT);

        unlink(junk);
        unlink(a->file);
        unlink(b->file);
        assert_int_equal(rmdir(dir), 0); /* no temporary files left behind */
        qz_manifest_free(a);
        qz_manifest_free(b);
        qz_manifest_free(dup);

        assert_int_equal(qz_manifest_list("/nonexistent/qz-store", &v, &n, NULL), 0);
        assert_int_equal(n, 0);
}

static void test_names(void **state) {
        (void)state;
        assert_true(qz_snapshot_name_valid("20261122-111500"));
        assert_true(qz_snapshot_name_valid("nightly.1_a+b"));
        assert_false(qz_snapshot_name_valid(""));
        assert_false(qz_snapshot_name_valid(".hidden"));
        assert_false(qz_snapshot_name_valid("-opt"));
        assert_false(qz_snapshot_name_valid("a/b"));
        assert_false(qz_snapshot_name_valid("a b"));
        assert_false(qz_snapshot_name_valid(".."));
        char longname[80];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_false(qz_snapshot_name_valid(longname));
        char buf[32];
        qz_snapshot_default_name(buf, sizeof(buf));
        assert_int_equal(strlen(buf), 15); /* YYYYMMDD-HHMMSS */
        assert_int_equal(buf[8], '-');
        assert_true(qz_snapshot_name_valid(buf));
}

static void test_store_dir(void **state) {
        (void)state;
        unsetenv(QZ_STORE_ENV);
        char *d = qz_store_dir(NULL);
        assert_string_equal(d, QZ_DEFAULT_STORE);
        free(d);
        setenv(QZ_STORE_ENV, "/env/store/", 1);
        d = qz_store_dir(NULL);
        assert_string_equal(d, "/env/store");
        free(d);
        d = qz_store_dir("/opt/store");
        assert_string_equal(d, "/opt/store");
        free(d);
        unsetenv(QZ_STORE_ENV);
}

/* The writers a job expects: registered in a Status, acknowledged in a manifest. */
static void test_expected_writers(void **state) {
        (void)state;
        qz_fs_ref fa = {.id = "7:1", .mountpoint = "/srv/a"}, fb = {.id = "7:2", .mountpoint = "/srv/b"};
        qz_writer_status ws[2] = {{.name = "pg", .pid = 812, .n_fs = 1, .fs = &fb},
                                  {.name = "pg", .pid = 813, .n_fs = 1, .fs = &fa}};
        qz_status s = {.n_writers = 2, .writers = ws};
        const char *ids[] = {"7:9", "7:1"}, *names[] = {"/srv/z (ext4 7:9)", "/srv/a (ext4 7:1)"};
        size_t at = 99;
        assert_ptr_equal(qz_snap_writer_registered(&s, "pg", ids, 2, &at), &ws[1]);
        assert_int_equal(at, 1);
        assert_null(qz_snap_writer_registered(&s, "redis", ids, 2, NULL));
        assert_null(qz_snap_writer_registered(&s, "pg", ids, 1, NULL));
        assert_null(qz_snap_writer_registered(NULL, "pg", ids, 2, NULL));
        char *t = qz_snap_writer_missing(&s, "pg", names, 1);
        assert_string_equal(t,
                            "writer \"pg\" is not registered with quiesced for /srv/z (ext4 7:9) (a writer "
                            "of that name, pid 812, is registered for /srv/b only)");
        free(t);
        t = qz_snap_writer_missing(&s, "redis", names, 2);
        assert_string_equal(t, "writer \"redis\" is not registered with quiesced for /srv/z (ext4 7:9) or "
                               "/srv/a (ext4 7:1)");
        free(t);

        qz_snap_writer mw[3] = {
                {.name = "pg", .acknowledged = true},
                {.name = "pg", .acknowledged = false, .reason = "did not answer freeze within 2s"},
                {.name = "redis", .acknowledged = true}};
        qz_manifest m = {.n_writers = 3, .writers = mw};
        char *why = NULL;
        assert_true(qz_snap_writer_acknowledged(&m, "redis", &why));
        assert_null(why);
        assert_false(qz_snap_writer_acknowledged(&m, "pg", &why)); /* one of two did not */
        assert_string_equal(why,
                            "writer \"pg\" did not acknowledge the freeze: did not answer freeze within 2s");
        free(why);
        why = NULL;
        assert_false(qz_snap_writer_acknowledged(&m, "mysql", &why));
        assert_string_equal(why, "writer \"mysql\" was not asked: it was not registered for the frozen "
                                 "filesystems when the freeze began");
        free(why);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_expected_writers),
                cmocka_unit_test(test_proof_round_trip_and_proven_label),
                cmocka_unit_test(test_job_round_trip),
                cmocka_unit_test(test_unknowns_are_null),
                cmocka_unit_test(test_refuses_non_manifests),
                cmocka_unit_test(test_store_write_list_load),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_store_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
