/* SPDX-License-Identifier: GPL-2.0-or-later */
/* holds.h - the freeze state machine: filesystems (one per superblock) with
 * reference counts, holds with deadlines, group freezes in progress, and the
 * administrator's ceiling. Pure logic: it never calls the kernel or reads a
 * clock; the daemon injects "start a freeze/thaw" and passes time in, so the
 * unit tests can drive it with a fake kernel.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "mounts.h"

typedef enum qz_fs_state {
        QZ_FS_THAWED,
        QZ_FS_FREEZING, /* syncfs + FIFREEZE running in a worker */
        QZ_FS_FROZEN,
        QZ_FS_THAWING, /* FITHAW running in a worker */
} qz_fs_state;

const char *qz_fs_state_name(qz_fs_state s);

/* Why a hold went away. */
typedef enum qz_gone_why {
        QZ_GONE_THAWED,   /* released: thawed by request */
        QZ_GONE_CLOSED,   /* released: its connection closed */
        QZ_GONE_STOPPING, /* released: quiesced is stopping */
        QZ_GONE_EXPIRED,  /* expired: its deadline passed */
        QZ_GONE_CEILING,  /* force-thawed at the max-frozen ceiling */
        QZ_GONE_GUARD,    /* force-thawed by the guard */
} qz_gone_why;

/* The record of a hold gone: holds.c keeps the recent ones by id, and each
 * filesystem its last. */
typedef struct qz_gone {
        uint64_t id; /* the hold; 0: none */
        qz_gone_why why;
        usec_t after; /* EXPIRED: the hold's timeout; CEILING: the ceiling */
} qz_gone;

/* "released: thawed by request", "expired: its deadline of 500 ms passed" */
const char *qz_gone_text(const qz_gone *g, char *buf, size_t size);
/* A deadline or the ceiling or the guard took it: news, where a release
 * asked for is routine. */
bool qz_gone_is_news(qz_gone_why why);

typedef struct qz_op qz_op;
typedef struct qzd_hold qzd_hold;

/* What quiesced knows of whether a freeze cycle held (proof.h): the write
 * counter, the last probe, the breaches found. */
typedef struct qz_fs_proof {
        char device[96];       /* the block device(s) counted, "" none */
        bool have_sectors;     /* the counter could be read */
        uint64_t sectors_base; /* right after FIFREEZE */
        uint64_t sectors_last; /* at the last probe */
        usec_t last_probe_at;  /* 0: no probe yet */
        char last_answer[16];  /* the last probe's FIFREEZE answer: "EBUSY", "froze it" */
        bool held;             /* no breach in this cycle so far */
        unsigned breaches;     /* found in this cycle */
        usec_t breach_at;      /* when the last one was found */
        char *breach;          /* its sentence (malloc'd; freed with the fs, or at its next freeze) */
} qz_fs_proof;

typedef struct qz_fs {
        dev_t devno;
        char id[32]; /* "major:minor" */
        char *mountpoint, *fstype, *source;
        int ioctl_fd;     /* owned while referenced; -1 otherwise */
        dev_t host_devno; /* filesystem holding our loop device's backing file, 0 none */
        bool is_root;
        qz_fs_state state;
        unsigned refs;       /* references of holds and of group freezes in progress */
        usec_t freeze_start; /* FIFREEZE began: writes blocked from here */
        usec_t frozen_at;    /* FIFREEZE returned */
        usec_t thawed_at;
        usec_t ceiling_at;  /* force-thaw time, QZ_USEC_INFINITY none */
        usec_t freeze_usec; /* duration of the FIFREEZE call, QZ_USEC_INFINITY unknown */
        usec_t last_stall;  /* FIFREEZE start to FITHAW end of the last cycle, QZ_USEC_INFINITY none */
        qz_gone last_gone;  /* why the last hold on it went away, for EINVAL messages */
        qz_op **waiters;    /* ops waiting for the freeze in progress */
        size_t n_waiters;
        unsigned pins;     /* requests waiting for a probe that name it: not forgotten meanwhile */
        bool foreign;      /* the freeze in place is another process's (proof.h): never thawed by us */
        void *keeper;      /* the freezer's keeper thread while it is frozen (freezer.c) */
        qz_fs_proof proof; /* of the present (or last) freeze cycle */
        void *confirms;    /* requests waiting for its next probe (confirm.c) */
        void *writers;     /* the writer run its freeze cycle's writers belong to (phases.c), NULL none */
        void *userdata;
        struct qz_fs *next; /* registry list */
} qz_fs;

struct qzd_hold {
        uint64_t id;
        void *owner; /* the connection; NULL once detached and its connection closed */
        bool detached;
        uid_t uid;
        pid_t pid;
        usec_t timeout; /* QZ_USEC_INFINITY: none of its own */
        usec_t created;
        usec_t deadline; /* QZ_USEC_INFINITY: none */
        size_t n_fs;
        qz_fs **fs;   /* in freeze order */
        char **paths; /* the request's path for each, may be NULL entries */
        /* A breach of a freeze under it (proof.h): its promise is broken. */
        uint64_t broken_mask; /* bit i: fs[i]'s freeze did not hold since this hold began */
        usec_t broken_at;
        char *breach; /* the first breach's sentence (malloc'd), NULL none */
        qzd_hold *prev, *next;
};

/* A group freeze in progress: takes its filesystems one after another. */
struct qz_op {
        void *owner;
        bool detached;
        uid_t uid;
        pid_t pid;
        usec_t timeout;    /* QZ_USEC_INFINITY: none */
        size_t n_fs, next; /* fs[0..next) are frozen and referenced */
        qz_fs **fs;
        char **paths;
        bool waiting; /* referenced fs[next] and waits for its freeze */
        void *userdata;
};

typedef struct qz_holds qz_holds;

typedef struct qz_holds_ops {
        /* Begin syncfs+FIFREEZE / FITHAW of fs asynchronously; the daemon later
         * calls qz_holds_freeze_done / qz_holds_thaw_done. */
        void (*start_freeze)(void *ud, qz_fs *fs);
        void (*start_thaw)(void *ud, qz_fs *fs);
        /* A group freeze finished: hold is set on success; on failure err
         * (negative errno), msg (naming the path, filesystem and reason) and
         * the path that failed. The op is freed after the call. Not called for
         * cancelled ops. */
        void (*op_done)(void *ud, qz_op *op, qzd_hold *hold, int err, const char *msg, const char *path);
        /* A hold went away (released, expired, force-thawed, owner closed). */
        void (*hold_gone)(void *ud, const qzd_hold *hold, const qz_gone *gone);
        /* fs is thawed and unreferenced; the daemon may close its fd. */
        void (*fs_idle)(void *ud, qz_fs *fs);
        /* A group freeze will reach fs after the members before it: flush it
         * now, alongside them (a hint; may be NULL). */
        void (*preflush)(void *ud, qz_fs *fs);
} qz_holds_ops;

/* max_frozen: the ceiling, QZ_USEC_INFINITY none. */
qz_holds *qz_holds_new(const qz_holds_ops *ops, void *ud, usec_t max_frozen, size_t max_holds);
void qz_holds_free(qz_holds *h);

/* The registry of known filesystems: holds.c allocates and frees them.
 * find returns NULL when unknown. get returns the filesystem of info's
 * superblock (its names refreshed from info while nobody holds it) or, with
 * create, registers a new one (*created; the caller fills in host_devno);
 * NULL when unknown without create, or out of memory. */
qz_fs *qz_holds_find_fs(qz_holds *h, dev_t devno);
qz_fs *qz_holds_get_fs(qz_holds *h, const qz_mount_info *info, bool create, bool *created);
qz_fs *qz_holds_first_fs(qz_holds *h);
/* fs_idle(fs) if nobody wants fs: no reference, no waiter, no group freeze
 * in progress that names it. */
void qz_holds_fs_maybe_idle(qz_holds *h, qz_fs *fs);
/* Forget thawed, unreferenced filesystems beyond the `keep` most recent. */
void qz_holds_prune(qz_holds *h, size_t keep);

/* Start a group freeze of fs[0..n) (already validated, deduplicated and
 * ordered by the caller) with a hold timeout (QZ_USEC_INFINITY: none).
 * 0 on success: the op owns fs and paths, and *ret is the op while it
 * waits, or NULL when it already finished (op_done was called: everything
 * was frozen already). -ENOSPC, -ENOMEM or -EDEADLK when it could not start,
 * with *ret_msg (malloc'd: the caller frees it) saying why. */
int qz_holds_begin(qz_holds *h, void *owner, uid_t uid, pid_t pid, bool detached, usec_t timeout, qz_fs **fs,
                   char **paths, size_t n, void *userdata, usec_t now, qz_op **ret, char **ret_msg);
/* The owner went away: cancels its ops, releases its holds, orphans its
 * detached holds. */
void qz_holds_drop_owner(qz_holds *h, void *owner, usec_t now);

/* Completions from the workers. err is a negative errno (0 ok). */
void qz_holds_freeze_done(qz_holds *h, qz_fs *fs, int err, const char *msg, usec_t start, usec_t end);
void qz_holds_thaw_done(qz_holds *h, qz_fs *fs, int err, usec_t end);
/* The guard thawed fs behind our back (its hard deadline passed). */
void qz_holds_thawed_externally(qz_holds *h, qz_fs *fs, usec_t now);
/* A probe found fs's freeze broken (why: the sentence): every hold on it is
 * marked broken. The freeze stays (quiesced's again, or another's). */
void qz_holds_breach(qz_holds *h, qz_fs *fs, const char *why, usec_t now);
/* True when hold's freeze of fs (or of any of its filesystems, fs NULL) broke. */
bool qz_hold_broken(const qzd_hold *hold, const qz_fs *fs);

qzd_hold *qz_holds_find(qz_holds *h, uint64_t id);
qzd_hold *qz_holds_first(qz_holds *h);
/* The caller's most recent hold on fs: its own connection's, then detached
 * holds of its uid, then (root) any detached hold. */
qzd_hold *qz_holds_find_for(qz_holds *h, qz_fs *fs, void *owner, uid_t uid);
/* Why hold id went away, while it is among the recent ones; NULL otherwise. */
const qz_gone *qz_holds_gone(const qz_holds *h, uint64_t id);
/* Release a whole hold, or only its reference on one filesystem. */
void qz_holds_release(qz_holds *h, qzd_hold *hold, qz_gone_why why, usec_t now);
/* Returns true when this release started the thaw of fs. */
bool qz_holds_release_fs(qz_holds *h, qzd_hold *hold, qz_fs *fs, qz_gone_why why, usec_t now);
/* timeout: from now, QZ_USEC_INFINITY none. */
void qz_holds_reset_timeout(qz_holds *h, qzd_hold *hold, usec_t timeout, usec_t now);
void qz_holds_release_all(qz_holds *h, qz_gone_why why, usec_t now);

/* Deadlines and ceilings: the earliest one, and expire everything due. */
usec_t qz_holds_next_deadline(qz_holds *h);
void qz_holds_expire(qz_holds *h, usec_t now);

size_t qz_holds_count(const qz_holds *h);
/* True when some filesystem is frozen, freezing or thawing. */
bool qz_holds_busy(const qz_holds *h);
