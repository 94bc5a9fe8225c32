/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot.h - the snapshot library (qzsnapshot) as the quiesce command and
 * the backup code use it: take a snapshot (hooks, group freeze, providers,
 * thaw, label, manifest), and read, list and delete what quiesce made.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "label.h"
#include "quiesce.h"

#define QZ_MANIFEST_FORMAT 1
#define QZ_STORE_ENV "QUIESCE_STORE"
#define QZ_DEFAULT_STORE "/var/lib/quiesce/snapshots"
#define QZ_DEFAULT_HOOKS_DIR "/etc/quiesce/hooks.d"
#define QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS 10000
#define QZ_HOOK_DEFAULT_TIMEOUT_MS 10000
#define QZ_SNAPSHOT_NAME_MAX 64
/* The rule, as every refusal of a snapshot or job name states it ("%s" the name). */
#define QZ_SNAPSHOT_NAME_RULE "(1 to 64 of A-Z a-z 0-9 . _ + -, not starting with '.' or '-')"
_Static_assert(QZ_SNAPSHOT_NAME_MAX == 64, "QZ_SNAPSHOT_NAME_RULE states 64");
#define QZ_BTRFS_SNAPSHOT_DIR ".quiesce-snapshots"
#define QZ_REFLINK_SUFFIX ".quiesce-" /* IMAGE.quiesce-NAME */

/* The proof that a filesystem stayed frozen (DESIGN.md, "Proof of a
 * freeze"): quiesced's last probe before the thaw, and the block device's
 * sectors written while it was frozen. A manifest's "proof" object. */
typedef struct qz_snap_proof {
        bool known;              /* quiesced reported it (the filesystem was frozen) */
        bool held;               /* verified: no breach from the freeze to that probe */
        char *probe;             /* its FIFREEZE answer: "EBUSY"; NULL none */
        int64_t probe_ms;        /* when, after the freeze began; -1 none */
        char *device;            /* the block device(s) counted; NULL: no counter */
        int64_t sectors_written; /* while frozen, up to that probe; -1 unknown */
        int64_t breaches;        /* found while frozen */
        char *breach;            /* the last one, as quiesced said it; NULL none */
        bool foreign;            /* at the end, the freeze in place was another process's */
} qz_snap_proof;

/* One filesystem of a snapshot (a manifest's "filesystems" entry). */
typedef struct qz_snap_fs {
        char *path;             /* the path the user named */
        char *mountpoint;       /* its mount */
        char id[32];            /* "major:minor" of the superblock (mountinfo) */
        char *fstype;           /* "ext4" */
        char *source;           /* "/dev/loop1" */
        char *backing_file;     /* a loop device's image, or NULL */
        char *provider;         /* "reflink", "btrfs", "exec" */
        char *subvolume;        /* btrfs: the directory of the snapshotted subvolume, else NULL */
        char *snapshot;         /* where the snapshot is (file, subvolume, exec's first line); NULL: none */
        char *snapshot_uuid;    /* btrfs: the snapshot subvolume's UUID, checked before delete */
        int64_t size_bytes;     /* reflink: the clone's size; btrfs: bytes used on the filesystem;
                                   exec: a file's or block device's size; -1 unknown */
        int64_t stall_ms;       /* FIFREEZE's stall, -1 when not frozen */
        int64_t frozen_ms;      /* how long it was frozen, -1 when not frozen */
        bool frozen;            /* it was part of the group freeze */
        bool frozen_throughout; /* still in the hold after its snapshot ended, and its freeze held */
        qz_snap_proof proof;    /* the evidence, when it was frozen */
        bool atomic;            /* btrfs: an atomic snapshot, not frozen */
        char *error;            /* the provider failed here (and why); NULL when it succeeded */
        char *output;           /* exec, lvm: what the command printed (stdout, then stderr), or NULL */
        char *lvm_origin;       /* lvm: the origin "VG/LV", or NULL */
        char *lvm_snapshot;     /* lvm: the snapshot "VG/LV", or NULL */
} qz_snap_fs;

/* One hook run (a manifest's "hooks" entry). */
typedef struct qz_snap_hook {
        char *name;      /* file name in the hooks directory */
        char *phase;     /* "freeze" or "thaw" */
        int exit_status; /* its exit status; -1 when killed, refused or not started */
        int signal;      /* the signal that ended it, 0 none */
        int64_t duration_ms;
        bool timed_out; /* killed at its timeout */
        char *refused;  /* why it was not run (permissions), or NULL */
        char *output;   /* stdout and stderr, as captured (bounded) */
        bool output_truncated;
} qz_snap_hook;

/* What one writer answered in the snapshot's freeze (a manifest's
 * "writers" entry, from quiesced's report of the hold: writers.c). */
#define QZ_SNAP_PHASES 4 /* prepare, freeze, thaw, abort */
typedef struct qz_snap_writer_phase {
        bool asked;
        char answer[8]; /* "ok", "veto", "fail", "none" */
        char *detail;   /* e.g. a binlog position; NULL none */
        int64_t ms;     /* -1: no answer */
        bool timed_out;
} qz_snap_writer_phase;

typedef struct qz_snap_writer {
        char *name;
        int64_t freeze_id; /* quiesced's freeze that asked it; 0 none */
        char *filesystems; /* "7:0,7:1": the snapshot's filesystems it registered for */
        bool required;
        bool acknowledged; /* answered freeze ok in time and stayed until its thaw */
        bool lost;         /* went away after freeze, before its thaw */
        bool refused;      /* made quiesced refuse the freeze (root's veto, a required writer) */
        char *reason;      /* why not acknowledged; NULL when it was */
        qz_snap_writer_phase phase[QZ_SNAP_PHASES];
} qz_snap_writer;

/* A snapshot's manifest: STORE/NAME.json. */
typedef struct qz_manifest {
        int format; /* QZ_MANIFEST_FORMAT */
        char *name;
        char *created; /* "2026-11-22T11:15:00Z" */
        qz_label label;
        char *label_reason;  /* one line saying why this label */
        char *provider;      /* "reflink", "btrfs", "exec", or "mixed" */
        int64_t hold;        /* quiesced's hold id, -1 when nothing was frozen */
        int64_t duration_ms; /* the whole command */
        int64_t frozen_ms;   /* from the freeze to the thaw, -1 when nothing was frozen */
        bool no_freeze;      /* taken with --no-freeze */
        char *exec_delete;   /* exec: the delete template, or NULL */
        char *job;           /* the job that made it (quiesce job, --job), or NULL; JSON "job", optional */
        size_t n_fs;
        qz_snap_fs *fs;
        size_t n_hooks;
        qz_snap_hook *hooks;
        size_t n_writers;
        qz_snap_writer *writers;
        size_t n_notes;
        char **notes;
        char *file; /* where the manifest lies (not part of the JSON), or NULL */
} qz_manifest;

/* ---- writers.c ----------------------------------------------------------- */

/* m's writers from the hold quiesced reported (replacing any before). */
void qz_snap_writers_from_hold(qz_manifest *m, const qz_hold *h);
/* ... or from reports[0..n) (a refused freeze's writer, qz_client_error_writer). */
void qz_snap_writers_from_reports(qz_manifest *m, const qz_writer_report *reports, size_t n);
/* The writer that made quiesced refuse m's freeze ("writer \"NAME\" refused
 * the freeze: REASON", malloc'd; *ret_name borrowed from m), or NULL when
 * no writer did. */
char *qz_snap_writer_refusal(const qz_manifest *m, const char **ret_name);
/* Writers that did not acknowledge freeze (or went away before thaw). */
size_t qz_snap_writers_unacknowledged(const qz_manifest *m);
json_object *qz_snap_writers_to_json(const qz_manifest *m);
void qz_snap_writers_from_json(qz_manifest *m, json_object *a);
void qz_snap_writers_free(qz_snap_writer *w, size_t n);
/* The first writer called name that Status s lists as registered for one
 * of the filesystems ids[0..n) ("major:minor"), or NULL; *ret_fs (may be
 * NULL) the index in ids of the first it covers. */
const qz_writer_status *qz_snap_writer_registered(const qz_status *s, const char *name,
                                                  const char *const *ids, size_t n, size_t *ret_fs);
/* Why writer name is not registered for the filesystems ids[0..n) (names[i]
 * for a person: "/srv/db (ext4 7:1)"), as a sentence (malloc'd):
 * 'writer "pg" is not registered with quiesced for /srv/db (ext4 7:1)',
 * and where a writer of that name is registered instead, if one is. */
char *qz_snap_writer_missing(const qz_status *s, const char *name, const char *const *names, size_t n);
/* Whether m's writers called name acknowledged the freeze: true when there
 * is one and each did; else false and *ret_why (malloc'd; may be NULL)
 * the first one's reason, or that it was not asked. */
bool qz_snap_writer_acknowledged(const qz_manifest *m, const char *name, char **ret_why);

/* ---- manifest.c ---------------------------------------------------------- */

/* The store: opt, else $QUIESCE_STORE, else QZ_DEFAULT_STORE (malloc'd). */
char *qz_store_dir(const char *opt);
/* A name is 1..64 of [A-Za-z0-9._+-], not starting with '.' or '-'. */
bool qz_snapshot_name_valid(const char *name);
/* "YYYYMMDD-HHMMSS" (UTC) into buf (at least 16 bytes). */
void qz_snapshot_default_name(char *buf, size_t size);

qz_manifest *qz_manifest_new(void);
void qz_manifest_free(qz_manifest *m);
/* JSON text (malloc'd, pretty), and back. 0 or -errno (-EBADMSG: not a manifest). */
char *qz_manifest_to_json(const qz_manifest *m);
int qz_manifest_from_json(const char *text, qz_manifest **ret);
/* STORE/NAME.json: 0, -ENOENT (no such snapshot), -EBADMSG, -errno. */
int qz_manifest_load(const char *store, const char *name, qz_manifest **ret);
/* Writes STORE/NAME.json atomically (temporary file, fsync, rename that
 * refuses to replace): 0, -EEXIST, -errno. Sets m->file. */
int qz_manifest_write(const char *store, qz_manifest *m);
bool qz_manifest_exists(const char *store, const char *name);
/* A manifest at any path (an archive's sidecar): 0, -EBADMSG, -errno. */
int qz_manifest_load_path(const char *path, qz_manifest **ret);
/* Every readable manifest in the store, sorted by name; unreadable ones are
 * skipped and counted in *n_bad (may be NULL). A missing store is empty. */
int qz_manifest_list(const char *store, qz_manifest ***ret, size_t *n, size_t *n_bad);
void qz_manifest_list_free(qz_manifest **v, size_t n);
/* true when a provider failed on some filesystem (the snapshot is incomplete). */
bool qz_manifest_incomplete(const qz_manifest *m);
/* The label its evidence supports: the manifest's, or crash-consistent when
 * a filesystem's proof records a breach (or it left the hold early) even
 * though the label says otherwise (a hand-edited or older manifest). why
 * (may be NULL) is set to the reason when the label is lowered, else NULL. */
qz_label qz_manifest_proven_label(const qz_manifest *m, const char **why);

/* ---- reserve.c: names ------------------------------------------------------ */

#define QZ_RESERVATION_SUFFIX ".reserved" /* STORE/.NAME.reserved */

/* A name held for one run: STORE/.NAME.reserved, created O_EXCL and held
 * with flock(LOCK_EX) until released. A reservation file nobody holds a lock
 * on is a killed run's: stale, and reclaimed by the next run that wants it. */
typedef struct qz_reservation {
        char name[QZ_SNAPSHOT_NAME_MAX + 1];
        int fd;         /* the locked file, -1 when nothing is reserved */
        char *path;     /* STORE/.NAME.reserved */
        char *store;    /* the store when this run created it (removed at the release if empty) */
        bool reclaimed; /* a stale reservation was taken over */
} qz_reservation;

/* STORE/.NAME.reserved (malloc'd). */
char *qz_reservation_path(const char *store, const char *name);
/* Reserves name in the store (created if missing), or with name NULL the
 * default name (qz_snapshot_default_name()) or, when that is taken, its first
 * free NAME-2, NAME-3, ... A name is taken by a manifest or a live
 * reservation. 0; -EEXIST (err names the store, the name and what holds
 * it), -EINVAL, -errno; err is set on every failure. */
int qz_snapshot_reserve(const char *store, const char *name, qz_reservation *r, char **ret_error);
/* The first free one of BASE, BASE-2, BASE-3, ... */
int qz_snapshot_reserve_unique(const char *store, const char *base, qz_reservation *r, char **ret_error);
/* Removes and unlocks the reservation (idempotent). */
void qz_reservation_release(qz_reservation *r);

/* ---- verify.c: is a snapshot's storage still there? ---------------------- */

/* In order of severity: a snapshot's state is its worst filesystem's. */
typedef enum qz_snap_state {
        QZ_SNAP_INTACT = 0, /* there, as the manifest recorded it */
        QZ_SNAP_UNKNOWN,    /* cannot be checked here (no tool, no location, not mounted) */
        QZ_SNAP_DAMAGED,    /* there, but not what was recorded (size, type, UUID) */
        QZ_SNAP_MISSING,    /* gone (deleted by hand), or never made */
} qz_snap_state;

typedef struct qz_snap_check {
        qz_snap_state state;
        char *reason; /* one line: what was checked, what was found (malloc'd) */
} qz_snap_check;

const char *qz_snap_state_name(qz_snap_state s);
/* Checks each filesystem's snapshot with its provider's verify() into
 * checks[0..m->n_fs) (may be NULL); returns the snapshot's state (the worst;
 * missing when there is no filesystem). Reads only; never frozen. */
qz_snap_state qz_snapshot_verify(const qz_manifest *m, qz_snap_check *checks);
/* Frees the reasons of checks[0..n). */
void qz_snap_checks_done(qz_snap_check *checks, size_t n);

/* ---- snapshot.c: taking and deleting -------------------------------------- */

/* Messages (errors, warnings) for the user; never called while anything is
 * frozen (they are queued and delivered after the thaw). */
typedef void (*qz_snapshot_msg_fn)(void *userdata, const char *text);
/* A formatted message to msg (nothing when msg is NULL): delete's and prune's commentary. */
void qz_snapshot_tell(qz_snapshot_msg_fn msg, void *userdata, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

typedef struct qz_snapshot_opts {
        const char *const *paths;
        size_t n_paths;
        const char *provider;    /* "reflink", "btrfs", "exec", "lvm", or NULL/"auto" */
        const char *exec_cmd;    /* exec: argv template */
        const char *exec_delete; /* exec: delete template, stored in the manifest */
        int64_t exec_timeout_ms; /* -1: what is left of the deadline */
        const char *lvm_size;  /* lvm: classic snapshot size (--size, or --extents with %), NULL: 20%ORIGIN */
        int64_t timeout_ms;    /* the freeze deadline (default QZ_SNAPSHOT_DEFAULT_TIMEOUT_MS) */
        const char *name;      /* NULL: the UTC time */
        const char *job;       /* the job this snapshot belongs to (a valid snapshot name), or NULL */
        const char *hooks_dir; /* NULL: QZ_DEFAULT_HOOKS_DIR */
        int64_t hook_timeout_ms;     /* per hook */
        const char *store;           /* NULL: qz_store_dir(NULL) */
        const char *socket;          /* quiesced's socket, NULL: the default */
        bool no_freeze;              /* snapshot without freezing (crash-consistent) */
        bool allow_crash_consistent; /* also: go on without the freeze when it fails */
        /* The writers the caller expects (a job's writers =): each must be
         * registered with quiesced for one of the filesystems to freeze, or
         * the snapshot is refused before anything is frozen (-ESRCH); one that
         * is then not asked counts as a writer that did not acknowledge. */
        const char *const *writers;
        size_t n_writers;
        volatile sig_atomic_t *interrupted; /* set by the caller's SIGINT/SIGTERM handler, or NULL */
        qz_snapshot_msg_fn msg;
        void *userdata;
} qz_snapshot_opts;

void qz_snapshot_opts_init(qz_snapshot_opts *o);

/* Takes the snapshot. 0: a snapshot was made and its manifest written
 * (*ret; look at its label and qz_manifest_incomplete()); -errno: nothing was
 * kept (a refusal, quiesced unreachable, the freeze failed, or every provider
 * failed); the reasons went to opts->msg. *ret may be set even then (the
 * report of what ran: hooks), with m->file NULL. */
int qz_snapshot_take(const qz_snapshot_opts *o, qz_manifest **ret);

/* Removes what the manifest names (the clone file, the btrfs subvolume, for
 * exec the delete template's run) and then the manifest. Anything that does
 * not look like what the manifest recorded is left alone and reported.
 * A pinned snapshot (pin.h: a live lease or a lasting pin) is refused,
 * naming the holder. 0, -ENOENT (no such snapshot), -EBUSY (pinned),
 * -errno (the manifest is kept). */
int qz_snapshot_delete(const char *store, const char *name, qz_snapshot_msg_fn msg, void *userdata);
