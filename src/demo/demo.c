/* SPDX-License-Identifier: GPL-2.0-or-later */
/* demo.c - quiesce-demo: nested and timed freezes, then the whole backup
 * workflow on a pool (XFS loop image) holding an ext4 data image: a writer, a
 * reflink snapshot through `quiesce snapshot`, `quiesce backup`, and the proof
 * (fsck clean, every acknowledged file in the archive with its SHA-256);
 * then a backup job on the same filesystem (job.c). All
 * of it in a temporary directory undone on every way out; what it froze it
 * thaws through quiesced, never by itself.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "demo.h"
#include "quiesce-version.h"
#include "snapshot.h"
#include "xalloc.h"

#define DAEMON_MAX_FROZEN "20s"
#define SNAPSHOT_TIMEOUT "5s"

struct demo D;

QZ_DEFINE_POINTER_CLEANUP(qz_hold, qz_hold_free)

/* ---- act 1's holds: kept so an interruption thaws them through quiesced ---- */

static int hold_freeze(int64_t timeout_ms, qz_hold **ret) {
        const char *paths[] = {D.data};
        int r = qz_client_freeze(D.c, paths, 1, timeout_ms, QZ_FREEZE_DETACHED, ret);
        if (r < 0)
                return demo_fail("freeze of %s: %s", D.data, qz_client_error(D.c));
        for (size_t i = 0; i < DEMO_MAX_HOLDS; i++)
                if (!D.holds[i]) {
                        D.holds[i] = (*ret)->id;
                        break;
                }
        return 0;
}

static void hold_forget(uint64_t id) {
        for (size_t i = 0; i < DEMO_MAX_HOLDS; i++)
                if (D.holds[i] == id)
                        D.holds[i] = 0;
}

static void hold_thaw(qz_hold *h) {
        qz_client_thaw_hold(D.c, h->id);
        hold_forget(h->id);
}

/* Thaws, through quiesced, every hold the demo still has: before its writers
 * are killed (a writer blocked on a frozen filesystem cannot die). */
static void holds_release(void) {
        for (size_t i = 0; i < DEMO_MAX_HOLDS; i++)
                if (D.holds[i] && D.c) {
                        if (qz_client_thaw_hold(D.c, D.holds[i]) < 0)
                                demo_fail("thaw of hold %" PRIu64 ": %s (its deadline will thaw it)",
                                          D.holds[i], qz_client_error(D.c));
                        else
                                demo_say("hold %" PRIu64 " thawed through quiesced", D.holds[i]);
                        D.holds[i] = 0;
                }
}

/* ---- act 1: nested and timed freezes ---- */

static int act_nested(void) {
        demo_act("1. Nested freezes: two holds on %s, one thaw each", D.data);
        _cleanup_(qz_hold_freep) qz_hold *a = NULL, *b = NULL, *c = NULL; /* freed on every way out */
        if (hold_freeze(20000, &a) < 0)
                return -1;
        demo_say("first freeze: hold %" PRIu64 " (FIFREEZE: the filesystem is frozen; stall %" PRId64 " ms)",
                 a->id, a->fs[0].stall_ms);
        if (hold_freeze(20000, &b) < 0)
                return -1;
        demo_say("second freeze: hold %" PRIu64 " (only counted; the kernel alone would answer EBUSY)",
                 b->id);
        char *probe = xasprintf("%s/hello.txt", D.data);
        pid_t w = demo_probe_spawn(probe);
        free(probe);
        if (demo_wait_done(w, 500) || !demo_blocked_on_freeze(w))
                return bk_interrupted() ? -1 : demo_fail("the writer was not blocked by the freeze");
        demo_say("a writer (pid %d) is blocked in the kernel on the frozen filesystem", w);
        demo_sleep_ms(100); /* time to read it (and, in the tests, to interrupt here) */
        if (bk_interrupted())
                return -1;
        hold_thaw(a);
        demo_say("thaw of hold %" PRIu64 ": one hold left, still frozen", a->id);
        if (demo_wait_done(w, 500) || bk_interrupted())
                return bk_interrupted() ? -1 : demo_fail("one thaw of two let the writer through");
        demo_say("the writer is still blocked");
        hold_thaw(b);
        if (!demo_wait_done(w, 5000))
                return bk_interrupted() ? -1 : demo_fail("the writer is still blocked after the last thaw");
        demo_say("thaw of hold %" PRIu64 ": the last hold, FITHAW; the writer finished", b->id);

        demo_act("2. A freeze with a 2 s deadline that nobody thaws");
        int64_t t = qz_now_ms();
        if (hold_freeze(2000, &c) < 0)
                return -1;
        demo_say("hold %" PRIu64 " taken with --timeout 2s; a writer tries again", c->id);
        probe = xasprintf("%s/after.txt", D.data);
        w = demo_probe_spawn(probe);
        free(probe);
        if (demo_wait_done(w, 500) || bk_interrupted())
                return bk_interrupted() ? -1 : demo_fail("the writer was not blocked");
        if (!demo_wait_done(w, 8000))
                return bk_interrupted() ? -1 : demo_fail("the deadline did not thaw the filesystem");
        hold_forget(c->id);
        demo_say("the deadline thawed it by itself: the writer finished %.1f s after the freeze",
                 (double)(qz_now_ms() - t) / 1000.0);
        return bk_interrupted() ? -1 : 0;
}

/* ---- act 0: the stage ---- */

static int act_stage(const char *socket) {
        char *tmp = xstrdup("/tmp/quiesce-demo.XXXXXX");
        if (!mkdtemp(tmp)) {
                free(tmp);
                return demo_fail("cannot create a temporary directory: %m");
        }
        D.tmp = tmp;
        chmod(D.tmp, 0755);
        bk_cleanup_push(BK_TREE, D.tmp, 0);
        D.pool = xasprintf("%s/pool", D.tmp);
        D.pool_img = xasprintf("%s/pool.img", D.tmp);
        D.data = xasprintf("%s/data", D.tmp);
        D.data_img = xasprintf("%s/data.img", D.pool);
        D.store = xasprintf("%s/store", D.tmp);
        D.hooks = xasprintf("%s/hooks.d", D.tmp);
        D.sock = xasprintf("%s/quiesced.sock", D.tmp);
        D.archive = xasprintf("%s/backup.tar.zst", D.tmp);

        demo_act("0. A pool and a data filesystem, on loop devices in %s", D.tmp);
        if (demo_make_image(D.pool_img, DEMO_POOL_SIZE) < 0 ||
            demo_run_ok((char *[]){"mkfs.xfs", "-q", "-f", D.pool_img, NULL}, true) < 0 ||
            demo_attach_and_mount(D.pool_img, D.pool, "xfs", D.pool_dev, sizeof(D.pool_dev)) < 0)
                return -1;
        demo_say("pool: XFS (reflink) on %s, mounted at %s", D.pool_dev, D.pool);
        if (demo_make_image(D.data_img, DEMO_DATA_SIZE) < 0 ||
            demo_run_ok((char *[]){"mkfs.ext4", "-q", "-F", D.data_img, NULL}, true) < 0 ||
            demo_attach_and_mount(D.data_img, D.data, "ext4", D.data_dev, sizeof(D.data_dev)) < 0)
                return -1;
        demo_say("data: ext4 image %s inside the pool, on %s, mounted at %s", D.data_img, D.data_dev, D.data);

        if (D.use_running) {
                D.socket = socket ? socket : getenv(QZ_SOCKET_ENV);
                if (qz_client_open(D.socket, &D.c) < 0)
                        return demo_fail("%s", qz_client_error(NULL));
                demo_say("using the running quiesced at %s", D.socket ? D.socket : QZ_DEFAULT_SOCKET);
                return 0;
        }
        if (!(D.quiesced = demo_find_program("quiesced", "daemon")))
                return demo_fail("quiesced not found beside this program nor in /usr/sbin");
        D.socket = D.sock;
        if (demo_start_daemon(DAEMON_MAX_FROZEN) < 0)
                return -1;
        demo_say("quiesced runs on its own socket; its guard thaws everything should it die");
        return 0;
}

/* A freeze hook, so the snapshot can be application-consistent. */
static int write_hook(void) {
        char *hook = xasprintf("%s/10-demo", D.hooks);
        FILE *f = (mkdir(D.hooks, 0755) == 0) ? fopen(hook, "w") : NULL;
        if (!f) {
                demo_fail("%s: %m", hook);
                free(hook);
                return -1;
        }
        fputs("#!/bin/sh\n"
              "# quiesce demo hook: an application would flush here (e.g. CHECKPOINT)\n"
              "echo \"demo hook: $1\"\n",
              f);
        fclose(f);
        chmod(hook, 0755);
        free(hook);
        return 0;
}

/* ---- the report ---- */

static bool report(const qz_manifest *m, const struct demo_verify *v, bool fsck_clean, bool recovery,
                   long acked_after, int64_t snap_ms, int64_t bk_ms) {
        char b1[32], b2[32], d1[32];
        long acked = v->acked;
        bool all = v->acked_ok == (unsigned)(acked + 1) && v->acked_bad == 0;
        demo_say("%ld files acknowledged before the freeze: %u in the archive with the right SHA-256%s",
                 acked + 1, v->acked_ok, all ? " (all of them)" : "  <== MISSING OR CHANGED");
        demo_say("%u more were written before the freeze and are there too (%u complete); %ld acknowledged "
                 "after it",
                 v->later_ok + v->later_other, v->later_ok, acked_after - acked);

        struct stat st_img = {0}, st_arc = {0};
        stat(m->fs[0].snapshot, &st_img);
        stat(D.archive, &st_arc);
        demo_act("Report");
        demo_say("snapshot        %s: %s%s%s%s", m->name, qz_label_name(m->label),
                 m->label_reason ? " (" : "", m->label_reason ? m->label_reason : "",
                 m->label_reason ? ")" : "");
        demo_say("stall           %" PRId64 " ms: writes blocked by FIFREEZE; frozen %" PRId64
                 " ms in all; the snapshot command took %s",
                 m->fs[0].stall_ms, m->frozen_ms, qz_format_duration(snap_ms, d1, sizeof(d1)));
        const qz_snap_proof *pr = &m->fs[0].proof;
        if (pr->known && pr->held)
                demo_say("freeze proof    verified: quiesced's probe at %s answered %s, and %" PRId64
                         " sectors were written on %s while frozen",
                         qz_format_duration(pr->probe_ms, d1, sizeof(d1)), pr->probe ? pr->probe : "?",
                         pr->sectors_written, pr->device ? pr->device : "?");
        else
                demo_say("freeze proof    NOT verified: %s",
                         pr->breach ? pr->breach : "no proof from quiesced");
        demo_say("snapshot image  %s, a copy-on-write clone (FICLONE) of the %s ext4 image",
                 qz_format_bytes((uint64_t)st_img.st_size, b1, sizeof(b1)),
                 qz_format_bytes((uint64_t)DEMO_DATA_SIZE, b2, sizeof(b2)));
        demo_say("archive         %s: %s, written in %s", D.archive,
                 qz_format_bytes((uint64_t)st_arc.st_size, b1, sizeof(b1)),
                 qz_format_duration(bk_ms, d1, sizeof(d1)));
        demo_say("consistency     fsck %s; %u/%ld acknowledged files intact", fsck_clean ? "clean" : "FAILED",
                 v->acked_ok, acked + 1);
        demo_say("time            %s in all", qz_format_duration(qz_now_ms() - D.t0, d1, sizeof(d1)));
        return fsck_clean && !recovery && all && m->label != QZ_LABEL_CRASH && pr->known && pr->held;
}

/* ---- the demo ---- */

static int demo(const char *socket) {
        if (act_stage(socket) < 0 || act_nested() < 0)
                return -1;

        demo_act("3. A writer: files with known content, each fsync'd and then acknowledged");
        struct demo_writer w;
        if (write_hook() < 0 || demo_writer_start(&w, D.data) < 0)
                return -1;
        demo_sleep_ms(1500);
        demo_writer_drain(&w);
        demo_say("writer pid %d: %ld files written and fsync'd so far, still writing", w.pid, w.acked + 1);

        demo_act("4. A reflink snapshot through quiesce, while the writer writes");
        int64_t t_snap = qz_now_ms();
        char *out = NULL, name[40];
        snprintf(name, sizeof(name), "demo-%ld", (long)time(NULL));
        char *snap_argv[] = {
                D.quiesce,     "--socket",       (char *)(D.socket ? D.socket : QZ_DEFAULT_SOCKET),
                "snapshot",    "--provider",     "reflink",
                "--timeout",   SNAPSHOT_TIMEOUT, "--name",
                name,          "--store",        D.store,
                "--hooks-dir", D.hooks,          D.data,
                NULL};
        /* what was acknowledged before this point was fsync'd before the freeze */
        demo_writer_drain(&w);
        long acked = w.acked;
        int r = demo_run(snap_argv, &out, true);
        if (r != 0) {
                if (!bk_interrupted()) {
                        demo_fail("quiesce snapshot failed (%d):", r);
                        demo_indent(out);
                }
                free(out);
                return -1;
        }
        demo_indent(out);
        free(out);
        int64_t snap_ms = qz_now_ms() - t_snap;
        demo_sleep_ms(300);
        demo_writer_drain(&w);
        long acked_after = w.acked;
        demo_writer_stop(&w);
        qz_manifest *m = NULL;
        if ((r = qz_manifest_load(D.store, name, &m)) < 0)
                return demo_fail("%s/%s.json: %s", D.store, name, strerror(-r));

        demo_act("5. The backup: the snapshot mounted read-only in private, archived with libarchive");
        char *bk_argv[] = {D.quiesce, "backup", "--snapshot", name, "--store",
                           D.store,   "--to",   D.archive,    NULL};
        int64_t t_bk = qz_now_ms();
        r = demo_run(bk_argv, &out, true);
        demo_indent(out);
        free(out);
        int64_t bk_ms = qz_now_ms() - t_bk;
        if (r != 0) {
                qz_manifest_free(m);
                return bk_interrupted() ? -1 : demo_fail("quiesce backup failed (%d)", r);
        }

        demo_act("6. The proof");
        struct demo_verify v = {.acked = acked};
        char *fsck_out = NULL;
        r = demo_run((char *[]){"e2fsck", "-fn", m->fs[0].snapshot, NULL}, &fsck_out, true);
        bool fsck_clean = r == 0;
        bool recovery = fsck_out && strstr(fsck_out, "recovery");
        if (!fsck_clean || recovery)
                demo_indent(fsck_out);
        free(fsck_out);
        demo_say("e2fsck -fn of the snapshot image: %s%s", fsck_clean ? "clean" : "ERRORS",
                 recovery ? ", and its journal needed recovery" : ", the journal needed no recovery");
        bool ok = demo_verify_archive(D.archive, &v) == 0 &&
                  report(m, &v, fsck_clean, recovery, acked_after, snap_ms, bk_ms);
        qz_manifest_free(m);
        if (!ok)
                return demo_fail("the snapshot did not prove consistent");
        return demo_act_job();
}

static void usage(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce-demo [options]\n"
              "\n"
              "As root, on loop devices of its own: nested freezes, a deadline, a snapshot\n"
              "and a backup of a filesystem being written, the proof that it is\n"
              "consistent, and a backup job (a job file, two runs, a prune, a check).\n"
              "Everything it makes is removed on every way out.\n"
              "\n"
              "Options:\n"
              " -r, --use-running        use the quiesced at --socket (or the default one)\n"
              "                            instead of starting one\n"
              " -s, --socket <path>      quiesced's socket (default $QUIESCE_SOCKET, else\n"
              "                            " QZ_DEFAULT_SOCKET ")\n"
              "\n"
              " -h, --help               display this help\n"
              " -V, --version            display version\n"
              "\n"
              "See also quiesce(8), quiesced(8), quiesce-job(5) and docs/backup.md.\n",
              out);
}

static void free_paths(void) {
        char **p[] = {&D.quiesce,  &D.quiesced, &D.tmp,   &D.pool, &D.pool_img, &D.data,
                      &D.data_img, &D.store,    &D.hooks, &D.sock, &D.archive};
        for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
                free(*p[i]);
                *p[i] = NULL;
        }
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"use-running", no_argument, NULL, 'r'},
                {"socket", required_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        const char *socket = NULL;
        int opt;
        while ((opt = getopt_long(argc, argv, "rs:hV", longopts, NULL)) != -1)
                switch (opt) {
                case 'r':
                        D.use_running = true;
                        break;
                case 's':
                        socket = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                case 'V':
                        printf("quiesce-demo from quiesce %s\n", QZ_VERSION_STRING);
                        return EXIT_SUCCESS;
                default:
                        fprintf(stderr, "Try 'quiesce-demo --help' for more information.\n");
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr,
                        "quiesce-demo: unexpected argument '%s'\n"
                        "Try 'quiesce-demo --help' for more information.\n",
                        argv[optind]);
                return 2;
        }
        if (geteuid() != 0) {
                fprintf(stderr,
                        "quiesce-demo: run as root: it makes loop devices, mounts and freezes them\n");
                return EXIT_FAILURE;
        }
        if (!(D.quiesce = demo_find_program("quiesce", "cli"))) {
                fprintf(stderr,
                        "quiesce-demo: the quiesce command was found neither beside this program nor in "
                        "/usr/bin\n");
                return EXIT_FAILURE;
        }
        D.tty = isatty(STDOUT_FILENO);
        D.t0 = qz_now_ms();
        bk_cleanup_init();
        int r = demo(socket);
        if (bk_interrupted())
                printf("\nquiesce-demo: interrupted by SIG%s\n", sigabbrev_np(bk_interrupted()));
        demo_act("Cleaning up: thaw through quiesced, stop quiesced, unmount, detach, remove %s",
                 D.tmp ? D.tmp : "the temporary directory");
        holds_release();
        if (D.c)
                qz_client_close(D.c);
        int left = bk_cleanup_run();
        demo_say("%s", left ? "some objects could not be removed (see above)" : "nothing left behind");
        free_paths();
        if (bk_interrupted())
                return 128 + bk_interrupted();
        return r == 0 && left == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
