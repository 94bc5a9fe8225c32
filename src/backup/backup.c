/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backup.c - the backup workflow (`quiesce backup`, docs/backup.md), as its
 * steps: the snapshot (named, or made now), usable or not, a read-only
 * private mount of each filesystem, then one archive (--to) or a command per
 * filesystem (--exec), the mounts undone, every temporary object undone on
 * every exit path (Ctrl-C included), and a snapshot made now deleted again.
 * What it found is in struct bk_backup for the caller's report.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "child.h"
#include "cleanup.h"
#include "template.h"
#include "xalloc.h"

static void say(const struct bk_backup_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct bk_backup_opts *o, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = xvasprintf(fmt, ap);
        va_end(ap);
        if (o->msg)
                o->msg(o->userdata, s);
}

/* "srv/data" for /srv/data; "rootfs" for / */
static char *archive_prefix(const char *mountpoint) {
        while (*mountpoint == '/')
                mountpoint++;
        char *p = xstrdup(*mountpoint ? mountpoint : "rootfs");
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                p[--n] = '\0';
        return p;
}

/* A frozen XFS has every metadata change written in place and its log
 * covered, but not marked clean (that needs an unmount): the read-only
 * device refuses the log recovery, so the mount uses norecovery, and there
 * is nothing to replay. Anywhere else a skipped replay means the snapshot
 * was not taken from a frozen filesystem (ext4's freeze clears its
 * needs_recovery flag). */
static bool replay_expected(const qz_snap_fs *f, const struct bk_mount *m) {
        return m->journal_replay_skipped && strcmp(f->fstype, "xfs") == 0 && f->frozen_throughout;
}

const char *bk_journal_note(const qz_snap_fs *f, const struct bk_mount *m) {
        if (!m->journal_replay_skipped)
                return "clean";
        if (replay_expected(f, m))
                return "XFS log covered by the freeze but not marked clean: mounted norecovery, nothing to "
                       "replay";
        return "the journal needed recovery: mounted without replaying it";
}

static int delete_snapshot(const struct bk_backup_opts *o, const char *name) {
        _cleanup_free_ char *store = qz_store_dir(o->store);
        return qz_snapshot_delete(store, name, o->msg, o->userdata);
}

/* ---- 1. the snapshot: named, or made now ---- */

static int load_snapshot(const struct bk_backup_opts *o, struct bk_backup *b) {
        _cleanup_free_ char *store = qz_store_dir(o->store);
        int r = qz_manifest_load(store, o->snapshot_name, &b->snapshot);
        if (r == -ENOENT)
                say(o, "backup: snapshot '%s' not found in %s", o->snapshot_name, store);
        else if (r == -EBADMSG)
                say(o, "backup: %s/%s.json: not a quiesce snapshot manifest", store, o->snapshot_name);
        else if (r < 0)
                say(o, "backup: %s/%s.json: %s", store, o->snapshot_name, strerror(-r));
        return r;
}

/* Made through the snapshot library; one that is made but unusable is
 * deleted again unless keep_snapshot. */
static int make_snapshot(const struct bk_backup_opts *o, struct bk_backup *b) {
        qz_snapshot_opts so = *o->snapshot;
        so.interrupted = bk_interrupt_flag();
        so.msg = o->msg;
        so.userdata = o->userdata;
        qz_manifest *m = NULL;
        int r = qz_snapshot_take(&so, &m);
        if (r < 0) {
                if (m && !m->file)
                        b->unmade = m;
                else
                        qz_manifest_free(m);
                return r;
        }
        const char *why = NULL;
        _cleanup_free_ char *writer = NULL;
        for (size_t k = 0; k < so.n_writers && !writer && !so.allow_crash_consistent; k++)
                (void)qz_snap_writer_acknowledged(m, so.writers[k], &writer);
        if (qz_manifest_incomplete(m))
                why = "is incomplete: a provider failed";
        else if (qz_manifest_proven_label(m, NULL) == QZ_LABEL_CRASH && !so.allow_crash_consistent)
                why = "is crash-consistent (use --allow-crash-consistent to back it up anyway)";
        else if (writer)
                why = "is not application-consistent (allow-crash-consistent accepts it)";
        else if (bk_interrupted())
                why = "was made, but the backup was interrupted";
        if (!why) {
                b->snapshot = m;
                b->made_now = true;
                return 0;
        }
        say(o, "backup: snapshot %s %s%s%s", m->name, why, writer || m->label_reason ? ": " : "",
            writer                                 ? writer
            : m->label_reason && !bk_interrupted() ? m->label_reason
                                                   : "");
        if (!o->keep_snapshot) {
                if (delete_snapshot(o, m->name) == 0)
                        say(o, "backup: snapshot %s deleted", m->name);
        } else
                say(o, "backup: snapshot %s kept (--keep-snapshot)", m->name);
        b->refused = m; /* for the caller's report: what was made, and why it is not backed up */
        return bk_interrupted() ? -EINTR : -EIO;
}

/* ---- 2. usable: a snapshot of every filesystem ---- */

static int check_snapshot(const struct bk_backup_opts *o, struct bk_backup *b) {
        const qz_manifest *s = b->snapshot;
        if (qz_manifest_proven_label(s, NULL) == QZ_LABEL_CRASH && !o->no_warnings)
                say(o, "warning: snapshot %s is crash-consistent: its filesystems were not frozen throughout",
                    s->name);
        for (size_t i = 0; i < s->n_fs; i++)
                if (!s->fs[i].snapshot) {
                        say(o, "backup: snapshot %s is incomplete: %s (%s) has no snapshot%s%s", s->name,
                            s->fs[i].mountpoint, s->fs[i].fstype, s->fs[i].error ? ": " : "",
                            s->fs[i].error ? s->fs[i].error : "");
                        return -EIO;
                }
        b->fs = calloc(s->n_fs ? s->n_fs : 1, sizeof(*b->fs));
        if (!b->fs)
                abort();
        for (size_t i = 0; i < s->n_fs; i++) {
                b->fs[i].prefix = archive_prefix(s->fs[i].mountpoint);
                b->fs[i].exit_status = -1;
        }
        return 0;
}

/* ---- 3. mount each filesystem's snapshot, read-only and private ---- */

static int mount_all(const struct bk_backup_opts *o, struct bk_backup *b, char **tmpdir,
                     struct bk_progress *prog) {
        const qz_manifest *s = b->snapshot;
        _cleanup_free_ char *err = NULL;
        /* Private from here: our mounts are seen by nobody and die with us. */
        int r = bk_private_mounts(&err);
        if (r < 0) {
                say(o, "backup: %s", err);
                return r;
        }
        const char *tmpbase = getenv("TMPDIR");
        *tmpdir = xasprintf("%s/quiesce-backup.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
        if (!mkdtemp(*tmpdir)) {
                r = -errno;
                say(o, "backup: cannot create a temporary directory %s: %s", *tmpdir, strerror(-r));
                return r;
        }
        bk_cleanup_push(BK_DIR, *tmpdir, 0);
        bk_progress_init(prog, o->to && o->progress);
        for (size_t i = 0; i < s->n_fs && !bk_interrupted(); i++) {
                struct bk_fs_result *res = &b->fs[i];
                r = bk_mount_snapshot(s->fs[i].snapshot, s->fs[i].fstype, *tmpdir, (unsigned)i, &res->m,
                                      &err);
                if (r < 0) {
                        say(o, "backup: %s: %s", s->fs[i].mountpoint, err);
                        return r;
                }
                if (res->m.journal_replay_skipped && !replay_expected(&s->fs[i], &res->m))
                        say(o,
                            "warning: %s: the snapshot's journal needed recovery; mounted without replaying "
                            "it "
                            "(%s): the snapshot was not taken from a frozen filesystem",
                            s->fs[i].mountpoint, res->m.options);
                bk_progress_measure(prog, res->m.dir);
        }
        return bk_interrupted() ? -EINTR : 0;
}

/* ---- 4a. one archive of them all (--to) ---- */

static int archive(const struct bk_backup_opts *o, struct bk_backup *b, struct bk_progress *prog) {
        const qz_manifest *s = b->snapshot;
        _cleanup_free_ char *err = NULL;
        struct bk_archive *arc;
        int r = bk_archive_open(o->to, &arc, &err);
        if (r < 0) {
                say(o, "backup: %s", err);
                return r;
        }
        prog->start_ms = qz_now_ms();
        for (size_t i = 0; i < s->n_fs && r >= 0; i++)
                r = bk_archive_add_tree(arc, b->fs[i].m.dir, b->fs[i].prefix, prog, &b->fs[i].counts, &err);
        bk_progress_done(prog);
        if (r >= 0 && bk_interrupted())
                r = -EINTR;
        if (r < 0) {
                if (r != -EINTR)
                        say(o, "backup: %s", err);
                bk_archive_close(arc, false, NULL, NULL);
                return r;
        }
        r = bk_archive_close(arc, true, &b->archive_bytes, &err);
        if (r == 0)
                r = bk_archive_write_sidecar(o->to, s, &err);
        if (r < 0)
                say(o, "backup: %s", err);
        return r;
}

/* ---- 4b. the command on each (--exec) ---- */

static int run_exec(const struct bk_backup_opts *o, struct bk_backup *b) {
        const qz_manifest *s = b->snapshot;
        for (size_t i = 0; i < s->n_fs; i++) {
                _cleanup_free_ char *err = NULL;
                struct bk_exec_vars v = {.path = b->fs[i].m.dir,
                                         .mountpoint = s->fs[i].mountpoint,
                                         .fstype = s->fs[i].fstype,
                                         .name = s->name,
                                         .label = qz_label_name(qz_manifest_proven_label(s, NULL)),
                                         .stdout_to_stderr = o->exec_stdout_to_stderr};
                fflush(stdout);
                int r = bk_exec_run(o->exec, o->n_exec, &v, &err);
                if (r == -EINTR || bk_interrupted())
                        return -EINTR;
                if (r < 0) {
                        say(o, "backup: %s: %s", s->fs[i].mountpoint, err);
                        return r;
                }
                b->fs[i].exit_status = qz_child_exit_status(r);
                if (b->fs[i].exit_status != 0) {
                        _cleanup_free_ char *cmdline = qz_strv_join(o->exec, o->n_exec, " ");
                        say(o, "backup: %s: '%s' failed on the snapshot mounted at %s: exit status %d",
                            s->fs[i].mountpoint, cmdline, b->fs[i].m.dir, b->fs[i].exit_status);
                        return -EIO;
                }
        }
        return 0;
}

/* ---- 5. undo: the mounts, every temporary object, a snapshot made now ---- */

static int unmount_all(struct bk_backup *b, int r) {
        for (size_t i = 0; b->fs && i < b->snapshot->n_fs; i++)
                if (b->fs[i].m.dir && bk_unmount_snapshot(&b->fs[i].m) < 0 && r >= 0)
                        r = -EBUSY;
        return r;
}

/* ---- 1b. the lease: the snapshot is pinned while this process reads it ---- */

static int pin_snapshot(const struct bk_backup_opts *o, struct bk_backup *b) {
        _cleanup_free_ char *store = qz_store_dir(o->store);
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *what = o->to ? xasprintf("to %s", o->to) : qz_strv_join(o->exec, o->n_exec, " ");
        _cleanup_free_ char *reason = o->to ? NULL : xasprintf("exec %s", what);
        int r = qz_lease_take(store, b->snapshot->name, "quiesce backup", o->to ? what : reason, &b->lease,
                              &err);
        if (r < 0)
                say(o, "backup: %s", err);
        return r;
}

static int undo(const struct bk_backup_opts *o, struct bk_backup *b, int r) {
        qz_lease_release(&b->lease); /* before a snapshot made now is deleted */
        if (bk_cleanup_run() > 0) {
                say(o, "backup: some temporary objects could not be removed (see above)");
                if (r >= 0)
                        r = -EBUSY;
        }
        if ((b->signal = bk_interrupted())) {
                say(o, "backup interrupted by %s; %s%s",
                    sigabbrev_np(b->signal) ? sigabbrev_np(b->signal) : "a signal",
                    o->to ? "no archive written, " : "", "temporary mounts and loop devices removed");
                r = -EINTR;
        }
        if (b->made_now && !o->keep_snapshot) {
                int e = delete_snapshot(o, b->snapshot->name);
                if (e < 0)
                        say(o, "backup: snapshot %s could not be deleted: %s", b->snapshot->name,
                            strerror(-e));
                else
                        b->deleted = true;
        }
        return r;
}

int bk_backup_run(const struct bk_backup_opts *o, struct bk_backup *b) {
        memset(b, 0, sizeof(*b));
        b->lease = QZ_LEASE_NULL;
        usec_t t0 = qz_now();
        int r = bk_cleanup_init();
        if (r < 0) {
                say(o, "backup: cannot set up signal handling: %s", strerror(-r));
                return r;
        }
        r = o->snapshot_name ? load_snapshot(o, b) : make_snapshot(o, b);
        if (r < 0) {
                b->signal = bk_interrupted();
                return r;
        }
        _cleanup_free_ char *tmpdir = NULL;
        struct bk_progress prog;
        r = pin_snapshot(o, b);
        if (r >= 0)
                r = check_snapshot(o, b);
        if (r >= 0) {
                r = mount_all(o, b, &tmpdir, &prog);
                if (r >= 0)
                        r = o->to ? archive(o, b, &prog) : run_exec(o, b);
                if (b->fs)
                        r = unmount_all(b, r);
        }
        r = undo(o, b, r);
        b->duration_ms = (int64_t)((qz_now() - t0) / USEC_PER_MSEC);
        return r;
}

void bk_backup_done(struct bk_backup *b) {
        qz_lease_release(&b->lease);
        for (size_t i = 0; b->fs && i < b->snapshot->n_fs; i++)
                free(b->fs[i].prefix);
        free(b->fs);
        qz_manifest_free(b->snapshot);
        qz_manifest_free(b->refused);
        qz_manifest_free(b->unmade);
        memset(b, 0, sizeof(*b));
        b->lease = QZ_LEASE_NULL;
}
