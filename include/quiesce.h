/* SPDX-License-Identifier: GPL-2.0-or-later */
/* quiesce.h - the public C API of libquiesce.
 *
 * Reference-counted, time-limited filesystem freezes, granted by quiesced.
 * Two layers: the seed patch's ioctl-shaped calls (qz_freeze, qz_thaw,
 * qz_reset_timeout: return 0, or -1 with errno), and a richer client API
 * (qz_client_*: return 0 or a negative errno, systemd style) with hold ids,
 * detached holds, group freezes and status.
 */
#ifndef QUIESCE_H
#define QUIESCE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "quiesce-version.h" /* QZ_VERSION_STRING: meson.build's project version */

#ifdef __cplusplus
extern "C" {
#endif

#define QZ_DEFAULT_SOCKET "/run/quiesce/quiesced.sock"
#define QZ_SOCKET_ENV "QUIESCE_SOCKET"

/* ---- The seed's API ------------------------------------------------------
 *
 * fd is any open file or directory inside the filesystem. The calls use one
 * connection to quiesced per process, opened on first use ($QUIESCE_SOCKET or
 * the default socket); holds taken through it are released when the process
 * exits.
 *
 * qz_freeze: take one hold on fd's filesystem. *timeout_sec is the hold's
 *   deadline in seconds; 0 or 1 mean no deadline of its own (XFS
 *   compatibility), the daemon's ceiling still applies.
 * qz_thaw: release this process's most recent hold on fd's filesystem; the
 *   last hold's release thaws it.
 * qz_reset_timeout: re-arm that hold's deadline to *timeout_sec from now.
 *
 * errno: EINVAL   no hold (never taken, thawed, expired or force-thawed)
 *        ESTALE   (QZ_EBROKEN; qz_thaw, qz_reset_timeout) the freeze did not
 *                 hold throughout: another process lifted it while the hold
 *                 lasted (DESIGN.md, "Proof of a freeze"); the thaw or the
 *                 re-arm was done all the same
 *        EOPNOTSUPP the filesystem cannot be frozen (tmpfs, proc, FUSE ...)
 *        EPERM    the caller is not allowed by quiesced
 *        EBUSY    a tool outside quiesce froze this filesystem
 *        EDEADLK  the filesystem holds quiesced's runtime directory
 *        ECONNREFUSED/ENOENT  quiesced is not running
 */
int qz_freeze(int fd, long *timeout_sec);
int qz_thaw(int fd);
int qz_reset_timeout(int fd, long *timeout_sec);
/* The daemon's message for the last failed seed call of this thread, or "". */
const char *qz_strerror_detail(void);

/* ---- The client API -------------------------------------------------------- */

typedef struct qz_client qz_client;

#define QZ_NO_DEADLINE (-1) /* timeout_ms value: no deadline of the hold's own */

/* The errno of a thaw or re-arm whose freeze did not hold throughout. */
#define QZ_EBROKEN ESTALE

enum {
        QZ_FREEZE_DETACHED = 1 << 0, /* the hold outlives the connection */
};

/* Whether a freeze cycle of a filesystem held, as quiesced checked it: a
 * probe FIFREEZE that answers EBUSY, and the block device's sectors-written
 * counter, which a frozen filesystem never moves. */
typedef struct qz_proof {
        int known;               /* the daemon sent a proof (the filesystem was frozen) */
        int held;                /* no breach found in this freeze cycle */
        int foreign;             /* the freeze in place is another process's, not quiesce's */
        char device[96];         /* the block device(s) counted, "" when there is no counter */
        int64_t sectors_written; /* since FIFREEZE, -1 unknown */
        char probe[16];          /* the last probe's answer: "EBUSY", "froze it", "" none yet */
        int64_t probe_ms;        /* when it was taken, after the freeze began; -1 none */
        unsigned breaches;       /* found in this cycle */
        char *breach;            /* the last one, as a sentence; NULL if none */
} qz_proof;

/* One filesystem (superblock) as the daemon names it. */
typedef struct qz_fs_ref {
        char id[32];      /* "major:minor" from mountinfo */
        char *mountpoint; /* where it is mounted (first mount found) */
        char *fstype;
        char *source;
        char *path;       /* the path as the request named it, or NULL */
        int64_t stall_ms; /* writes blocked by the freeze (FIFREEZE time), -1 unknown */
        int held;         /* in a hold: its freeze of this filesystem held since the hold began */
        qz_proof proof;   /* the freeze cycle's proof */
} qz_fs_ref;

typedef struct qz_hold {
        uint64_t id;
        int detached;
        int64_t remaining_ms; /* until the deadline, QZ_NO_DEADLINE if none */
        int broken;           /* a freeze under it did not hold (see breach) */
        char *breach;         /* the first breach, as a sentence; NULL if none */
        size_t n_fs;
        qz_fs_ref *fs;
        /* The writers of its filesystems (libquiesce 0.1, writers below):
         * their answers to the freeze in place. */
        size_t n_writers;
        struct qz_writer_report *writers;
} qz_hold;

typedef struct qz_hold_info {
        uint64_t id;
        int detached;
        pid_t pid; /* of the connection that took it */
        uid_t uid;
        int64_t age_ms;
        int64_t remaining_ms; /* QZ_NO_DEADLINE if none */
        int broken;           /* a freeze under it did not hold */
} qz_hold_info;

typedef struct qz_fs_status {
        qz_fs_ref fs;
        char state[16];        /* "freezing", "frozen", "thawing", "thawed" */
        int64_t frozen_ms;     /* time frozen so far (or last time frozen) */
        int64_t last_stall_ms; /* -1 unknown */
        int64_t ceiling_ms;    /* until the max-frozen ceiling, -1 none */
        size_t n_holds;
        qz_hold_info *holds;
} qz_fs_status;

/* One of quiesced's counters ("fifreeze", "fithaw", "probes", ...). */
typedef struct qz_counter {
        char name[32];
        int64_t value;
} qz_counter;

struct qz_writer_status;

typedef struct qz_status {
        char version[32];
        int64_t max_frozen_ms;
        size_t n_fs;
        qz_fs_status *fs;
        size_t n_counters; /* in the daemon's order */
        qz_counter *counters;
        /* The registered writers, in the order they registered (libquiesce
         * 0.1; qz_writer_status below). The library allocates qz_status, so
         * members are only ever added at the end. */
        size_t n_writers;
        struct qz_writer_status *writers;
} qz_status;

/* Connect; socket_path NULL means $QUIESCE_SOCKET, else QZ_DEFAULT_SOCKET. */
int qz_client_open(const char *socket_path, qz_client **ret);
void qz_client_close(qz_client *c);
/* The daemon's (or the library's) message for the last failed call. */
const char *qz_client_error(const qz_client *c);
struct qz_writer_report;
/* The writer that made quiesced refuse the last call's freeze (root's
 * writer vetoed, or a required one failed), as a hold reports its writers
 * (qz_writer_report below); NULL for any other outcome. Valid until the
 * next call on c. (libquiesce 0.1) */
const struct qz_writer_report *qz_client_error_writer(const qz_client *c);

/* Freeze all paths as one group hold (all-or-nothing). timeout_ms > 0, or
 * QZ_NO_DEADLINE. */
int qz_client_freeze(qz_client *c, const char *const *paths, size_t n_paths, int64_t timeout_ms,
                     unsigned flags, qz_hold **ret);
/* The same with already open descriptors (passed to the daemon). */
int qz_client_freeze_fds(qz_client *c, const int *fds, size_t n_fds, int64_t timeout_ms, unsigned flags,
                         qz_hold **ret);
/* Release one hold by id (root may release any; others their own). */
int qz_client_thaw_hold(qz_client *c, uint64_t hold_id);
/* Release the caller's most recent hold on each path's filesystem (own
 * connection first, then detached holds of the same uid). */
int qz_client_thaw_paths(qz_client *c, const char *const *paths, size_t n_paths);
int qz_client_thaw_fds(qz_client *c, const int *fds, size_t n_fds);
int qz_client_reset_timeout_hold(qz_client *c, uint64_t hold_id, int64_t timeout_ms);
int qz_client_reset_timeout_paths(qz_client *c, const char *const *paths, size_t n_paths, int64_t timeout_ms);
int qz_client_reset_timeout_fds(qz_client *c, const int *fds, size_t n_fds, int64_t timeout_ms);
/* Re-arms hold_id's deadline after quiesced has probed each of its
 * filesystems (a fresh probe, begun after this call) and returns the hold
 * with each filesystem's proof in *ret (free with qz_hold_free): 0 when
 * every freeze held, -QZ_EBROKEN (*ret set too) when one did not. */
int qz_client_verify_hold(qz_client *c, uint64_t hold_id, int64_t timeout_ms, qz_hold **ret);
int qz_client_status(qz_client *c, qz_status **ret);

/* One filesystem a Thaw released from a hold. */
typedef struct qz_release {
        uint64_t hold;     /* the hold it was released from */
        qz_fs_ref fs;      /* the filesystem (its proof: the freeze cycle's) */
        int thawed;        /* this release thawed it (it was its last hold) */
        int64_t frozen_ms; /* how long it was frozen in this cycle, -1 unknown */
} qz_release;

typedef struct qz_thaw_report {
        size_t n_released;
        qz_release *released;
} qz_thaw_report;

/* qz_client_thaw_hold() that also says what was released, in *ret (free
 * with qz_thaw_report_free): set on 0 and on -QZ_EBROKEN (released, but a
 * freeze did not hold), NULL on any other failure. */
int qz_client_thaw_hold_report(qz_client *c, uint64_t hold_id, qz_thaw_report **ret);
void qz_thaw_report_free(qz_thaw_report *r);
/* The release of filesystem id ("major:minor") in r, or NULL. */
const qz_release *qz_thaw_report_find(const qz_thaw_report *r, const char *id);

/* The daemon's Status reply parameters as a JSON text (malloc'd). */
int qz_client_status_json(qz_client *c, char **ret);

void qz_hold_free(qz_hold *h);
void qz_status_free(qz_status *s);

/* Durations as users write them: "500ms", "10s" ("sec"), "2m" ("min"), "1h",
 * "1d"; a bare number is seconds; "none" gives QZ_NO_DEADLINE. 0 or -errno. */
int qz_parse_duration(const char *text, int64_t *ret_ms);
/* "250ms", "2s", "1.5s", "2m", "2m05s", "1h", "1h30m", "none" into buf. */
const char *qz_format_duration(int64_t ms, char *buf, size_t size);

/* QZ_VERSION_STRING (quiesce-version.h) at build time; qz_version() the
 * library's at run time. */
const char *qz_version(void);

/* ---- Additions for event loops and tools (libquiesce 0.1) -------------------
 *
 * qz_client_error(NULL) gives the reason of this thread's last failed
 * qz_client_open() (which has no client to ask), e.g. "cannot connect to
 * quiesced at /run/quiesce/quiesced.sock: No such file or directory (is
 * quiesced running?)".
 *
 * qz_client_fd: the connection's socket, for poll(): quiesced never sends
 * unasked, so POLLIN/POLLHUP between calls means it closed the connection
 * (and with it released the connection's holds). -1 once closed. Do not read
 * or write it.
 * qz_client_last_reply: the "parameters" object of the last reply (success
 * or error) as JSON text, owned by the client, valid until its next call; NULL
 * before the first reply. For tools that show the daemon's answer (--json). */
int qz_client_fd(const qz_client *c);
const char *qz_client_last_reply(const qz_client *c);

/* ---- Writers: applications that take part in every freeze (libquiesce 0.1) --
 *
 * A writer registers for the filesystems under some paths and is then told,
 * by every freeze that calls FIFREEZE on one of them (whoever asked for it):
 *
 *   prepare  outside the freeze window, generous timeout (default 30 s): do
 *            the long work (a checkpoint); QZ_WRITER_VETO refuses the freeze
 *            (only root's writers can fail it; anybody else's is recorded);
 *   freeze   just before FIFREEZE, short timeout (default 2 s): flush, take
 *            the lock, answer QZ_WRITER_OK;
 *   thaw     after FITHAW (or expiry, the ceiling, a breach, a rollback, the
 *            requester's death): release the lock; nothing waits for it;
 *   abort    prepared, but no freeze happened.
 *
 * It fits an application's own event loop: poll qz_writer_fd() for POLLIN,
 * call qz_writer_dispatch(), which calls the phase's callback; the callback
 * (or later code, from the same thread) answers with qz_writer_answer().
 * If quiesced goes away (EOF, HUP), dispatch calls the thaw callback at once
 * (with daemon_gone set) for a freeze in progress, or abort for a prepare,
 * and returns -ECONNRESET: the guard thaws the filesystem itself. A writer
 * that does not answer in time, or dies, does not block a freeze unless it
 * registered as required (root only); either way it is recorded, and a
 * snapshot whose writer did not acknowledge freeze is not
 * application-consistent. See qz_writer_open(3). */

typedef struct qz_writer qz_writer;

typedef enum qz_writer_phase {
        QZ_WRITER_PREPARE,
        QZ_WRITER_FREEZE,
        QZ_WRITER_THAW,
        QZ_WRITER_ABORT,
} qz_writer_phase;

typedef enum qz_writer_verdict {
        QZ_WRITER_OK,   /* done (prepare, freeze, thaw) */
        QZ_WRITER_VETO, /* prepare: do not freeze now (the detail says why) */
        QZ_WRITER_FAIL, /* could not do it (the detail says why) */
} qz_writer_verdict;

typedef struct qz_writer_event {
        qz_writer_phase phase;
        uint64_t freeze_id;        /* names the freeze in answers and quiesced's report */
        int64_t timeout_ms;        /* the answer is expected within this, from when it was sent */
        size_t n_fs;               /* the group's filesystems this freeze prepares */
        const char *const *fs_ids; /* "major:minor" */
        const char *const *mountpoints;
        int daemon_gone; /* thaw/abort: quiesced went away; no answer is read */
} qz_writer_event;

/* The event is valid during the call only; copy freeze_id and phase to
 * answer later. */
typedef void (*qz_writer_callback)(qz_writer *w, const qz_writer_event *ev, void *userdata);

typedef struct qz_writer_callbacks {
        qz_writer_callback prepare, freeze, thaw, abort; /* NULL: answered QZ_WRITER_OK at once */
} qz_writer_callbacks;

typedef struct qz_writer_options {
        const char *name;           /* required: 1..64 printable characters, no blank */
        int required;               /* root only: a silent or failing answer fails the freeze */
        int64_t prepare_timeout_ms; /* 0: quiesced's default (30 s; at most 10 min) */
        int64_t freeze_timeout_ms;  /* 0: default 2 s (at most 60 s) */
        int64_t thaw_timeout_ms;    /* 0: default 10 s (at most 10 min; only recorded) */
        const char *socket_path;    /* NULL: $QUIESCE_SOCKET, else QZ_DEFAULT_SOCKET */
} qz_writer_options;

/* Connects and registers for paths' filesystems; 0 and *ret, or -errno
 * (the reason in qz_writer_error(NULL)). */
int qz_writer_open(const qz_writer_options *o, const char *const *paths, size_t n_paths,
                   const qz_writer_callbacks *cb, void *userdata, qz_writer **ret);
/* The descriptor to poll for POLLIN. */
int qz_writer_fd(const qz_writer *w);
/* Reads what quiesced sent, without blocking, and calls the callbacks. 0,
 * or -ECONNRESET once quiesced is gone (after the thaw/abort callback), or
 * another -errno. */
int qz_writer_dispatch(qz_writer *w);
/* Answers phase of freeze_id; detail (one line, may be NULL): a binlog
 * position for ok, the reason for veto or fail. 0 or -errno. */
int qz_writer_answer(qz_writer *w, uint64_t freeze_id, qz_writer_phase phase, qz_writer_verdict verdict,
                     const char *detail);
/* 1 between a freeze event and its thaw. */
int qz_writer_frozen(const qz_writer *w);
/* quiesced's id for this writer (its report names it). */
uint64_t qz_writer_id(const qz_writer *w);
/* The reason of the last failure; qz_writer_error(NULL): of this thread's
 * last qz_writer_open(). */
const char *qz_writer_error(const qz_writer *w);
/* Unregisters (closes the connection) and frees. */
void qz_writer_close(qz_writer *w);
/* "prepare", "freeze", "thaw", "abort" */
const char *qz_writer_phase_name(qz_writer_phase p);

/* What a writer answered in a freeze, as a hold reports it (qz_hold's
 * writers). ms -1: no answer. */
typedef struct qz_writer_phase_report {
        int asked;      /* the phase was sent */
        char answer[8]; /* "ok", "veto", "fail", "none" */
        char *detail;   /* NULL none */
        int64_t ms;     /* answered after, -1 none */
        int timed_out;
} qz_writer_phase_report;

typedef struct qz_writer_report {
        char *name;
        uint64_t id;
        uid_t uid;
        pid_t pid;
        int required;
        uint64_t freeze_id;              /* 0: not asked */
        int acknowledged;                /* answered freeze ok in time and stayed until its thaw */
        int lost;                        /* went away after freeze, before its thaw */
        char *reason;                    /* why not acknowledged, NULL when it was */
        qz_writer_phase_report phase[4]; /* by qz_writer_phase */
        size_t n_fs;
        char (*fs_ids)[32];
} qz_writer_report;

/* A registered writer, as qz_client_status() lists it (qz_status's
 * writers). */
typedef struct qz_writer_status {
        char *name;
        uint64_t id;
        pid_t pid;
        uid_t uid;
        int required;
        int may_veto;   /* root's: its veto fails a freeze */
        int64_t age_ms; /* registered this long ago */
        int64_t prepare_timeout_ms, freeze_timeout_ms, thaw_timeout_ms;
        size_t n_fs;
        qz_fs_ref *fs; /* what it registered for: id, mountpoint, fstype, source, path */
        /* The last phase it was sent (last_freeze_id 0: never asked yet). */
        uint64_t last_freeze_id;
        char last_phase[8];  /* "prepare", "freeze", "thaw", "abort"; "" never */
        char last_answer[8]; /* "ok", "veto", "fail", "none" (not answered) */
        char *last_detail;   /* NULL none */
        int64_t last_ago_ms; /* sent this long ago, -1 never */
        int64_t last_ms;     /* answered after, -1 no answer */
        int last_timed_out;
} qz_writer_status;

#ifdef __cplusplus
}
#endif
#endif
