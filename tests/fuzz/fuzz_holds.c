/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_holds.c - the dispatch side of a request: the hold state machine
 * (src/daemon/holds.c) driven by arbitrary sequences of what clients and the
 * kernel can do - group freezes, thaws by hold and by filesystem, resets,
 * deadlines and the ceiling, clients dying, freezes failing, the guard's
 * thaw - against a fake kernel that checks the contract: never FIFREEZE a
 * filesystem we froze or are freezing, never FITHAW one we did not freeze,
 * and after everything is released, nothing stays frozen.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holds.h"

#define N_FS 4
#define N_OWNERS 4
#define MAX_JOBS 64

typedef struct fake_fs {
        qz_fs *fs;
        bool frozen;  /* the fake kernel's state */
        bool pending; /* a freeze or thaw job not yet completed */
} fake_fs;

static struct {
        fake_fs fs[N_FS];
        struct {
                int fs;
                bool freeze;
        } jobs[MAX_JOBS];
        size_t n_jobs;
        bool busy[N_OWNERS];
        int owner_tag[N_OWNERS];
} K;

static int fs_index(qz_fs *fs) {
        for (int i = 0; i < N_FS; i++)
                if (K.fs[i].fs == fs)
                        return i;
        abort();
}

static void push_job(qz_fs *fs, bool freeze) {
        int i = fs_index(fs);
        if (K.fs[i].pending)
                abort(); /* two ioctls in flight on one filesystem */
        if (freeze && K.fs[i].frozen)
                abort(); /* FIFREEZE of what we hold frozen: EBUSY from ourselves */
        if (fs->ioctl_fd < 0)
                abort(); /* the ioctl would get no descriptor (EBADF) */
        if (!freeze && !K.fs[i].frozen)
                abort(); /* FITHAW of a freeze we did not make */
        if (K.n_jobs == MAX_JOBS)
                abort();
        K.fs[i].pending = true;
        K.jobs[K.n_jobs].fs = i;
        K.jobs[K.n_jobs].freeze = freeze;
        K.n_jobs++;
}

static void cb_start_freeze(void *ud, qz_fs *fs) {
        (void)ud;
        push_job(fs, true);
}
static void cb_start_thaw(void *ud, qz_fs *fs) {
        (void)ud;
        push_job(fs, false);
}
static void cb_op_done(void *ud, qz_op *op, qzd_hold *hold, int err, const char *msg, const char *path) {
        (void)ud;
        (void)path;
        int owner = *(int *)op->userdata;
        if (!K.busy[owner])
                abort(); /* a completion for an owner with nothing in progress */
        K.busy[owner] = false;
        if (!hold && (!err || !msg || !msg[0]))
                abort();
        if (hold)
                for (size_t i = 0; i < hold->n_fs; i++)
                        if (hold->fs[i]->state != QZ_FS_FROZEN || !K.fs[fs_index(hold->fs[i])].frozen)
                                abort(); /* granted a hold on something not frozen */
}
static void cb_hold_gone(void *ud, const qzd_hold *hold, const qz_gone *gone) {
        (void)ud;
        char buf[96];
        const char *why = qz_gone_text(gone, buf, sizeof(buf));
        if (gone->id != hold->id || !why || !why[0])
                abort();
}
static void cb_fs_idle(void *ud, qz_fs *fs) {
        (void)ud;
        if (fs->refs != 0 || fs->state != QZ_FS_THAWED)
                abort();
        fs->ioctl_fd = -1; /* what glue.c does: close the descriptor */
}
static void cb_preflush(void *ud, qz_fs *fs) {
        (void)ud;
        if (fs->state != QZ_FS_THAWED)
                abort(); /* only members no one froze or is freezing */
}
static const qz_holds_ops ops = {cb_start_freeze, cb_start_thaw, cb_op_done,
                                 cb_hold_gone,    cb_fs_idle,    cb_preflush};

/* Completes job i: a freeze succeeds unless fail_err. */
static void complete(qz_holds *h, size_t i, int fail_err, usec_t now) {
        int f = K.jobs[i].fs;
        bool freeze = K.jobs[i].freeze;
        memmove(&K.jobs[i], &K.jobs[i + 1], (K.n_jobs - i - 1) * sizeof(K.jobs[0]));
        K.n_jobs--;
        K.fs[f].pending = false;
        qz_fs *fs = K.fs[f].fs;
        if (freeze) {
                if (!fail_err)
                        K.fs[f].frozen = true;
                qz_holds_freeze_done(h, fs, fail_err, fail_err ? "fake FIFREEZE failed" : "", now, now + 10);
        } else {
                K.fs[f].frozen = false;
                qz_holds_thaw_done(h, fs, 0, now);
        }
}

static qzd_hold *nth_hold(qz_holds *h, unsigned k) {
        size_t n = qz_holds_count(h);
        if (!n)
                return NULL;
        k %= n;
        qzd_hold *x = qz_holds_first(h);
        while (k-- && x)
                x = x->next;
        return x;
}

/* holds.c may forget idle filesystems (qz_holds_prune); find or register them again as targets.c does. */
static void refresh(qz_holds *h) {
        for (int i = 0; i < N_FS; i++) {
                dev_t devno = (dev_t)(7 << 8 | i);
                qz_fs *fs = qz_holds_find_fs(h, devno);
                if (!fs) {
                        if (K.fs[i].frozen || K.fs[i].pending)
                                abort(); /* forgot a filesystem the kernel has frozen */
                        qz_mount_info info = {.devno = devno,
                                              .mountpoint = i == 3 ? "/" : "/mnt/fuzz",
                                              .fstype = "ext4",
                                              .source = "/dev/loop"};
                        snprintf(info.id, sizeof(info.id), "7:%d", i);
                        bool created;
                        fs = qz_holds_get_fs(h, &info, true, &created);
                        if (!fs || !created || fs->is_root != (i == 3))
                                abort();
                }
                K.fs[i].fs = fs;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        memset(&K, 0, sizeof(K));
        for (int i = 0; i < N_OWNERS; i++)
                K.owner_tag[i] = i;
        qz_holds *h = qz_holds_new(&ops, NULL, 3000 * 1000, 16);
        if (!h)
                return 0;
        refresh(h);
        usec_t now = 1000000;
        size_t i = 0;
        while (i + 2 <= size) {
                uint8_t op = data[i], arg = data[i + 1];
                i += 2;
                refresh(h);
                int owner = arg % N_OWNERS;
                switch (op % 12) {
                case 0: { /* a group freeze: arg's high bits pick the filesystems */
                        if (K.busy[owner])
                                break; /* a connection has one request in progress */
                        qz_fs *fs[N_FS];
                        char *paths[N_FS];
                        size_t n = 0;
                        unsigned mask = (arg >> 2) & 0xf;
                        for (int f = N_FS - 1; f >= 0; f--) /* dependents first, the root last */
                                if (mask & (1u << f) && f != 3)
                                        fs[n++] = K.fs[f].fs;
                        if (mask & 8)
                                fs[n++] = K.fs[3].fs;
                        if (!n)
                                break;
                        qz_fs **fsv = calloc(n, sizeof(*fsv));
                        char **pv = calloc(n, sizeof(*pv));
                        for (size_t j = 0; j < n; j++) {
                                if (fs[j]->ioctl_fd < 0)
                                        fs[j]->ioctl_fd = 100 + (int)j; /* targets.c hands it a descriptor */
                                fsv[j] = fs[j];
                                paths[j] = strdup(fs[j]->id);
                                pv[j] = paths[j];
                        }
                        usec_t timeout =
                                (arg & 0x40) ? QZ_USEC_INFINITY : (1 + (usec_t)(arg & 0x3f) * 50) * 1000;
                        if (timeout == QZ_USEC_INFINITY && (mask & 8))
                                timeout = 500 * 1000; /* targets.c refuses the root without a deadline */
                        qz_op *o;
                        char *msg = NULL;
                        K.busy[owner] = true;
                        int err =
                                qz_holds_begin(h, &K.owner_tag[owner], (uid_t)owner, 100 + owner, arg & 0x80,
                                               timeout, fsv, pv, n, &K.owner_tag[owner], now, &o, &msg);
                        if (err < 0 && (!msg || !msg[0]))
                                abort(); /* a refusal says why */
                        free(msg);
                        (void)o;
                        if (err < 0) {
                                K.busy[owner] = false;
                                for (size_t j = 0; j < n; j++) /* as freeze.c does */
                                        qz_holds_fs_maybe_idle(h, fsv[j]);
                                for (size_t j = 0; j < n; j++)
                                        free(pv[j]);
                                free(fsv);
                                free(pv);
                        }
                        break;
                }
                case 1: /* the oldest ioctl returns */
                case 2: /* any ioctl returns, maybe failing */
                        if (K.n_jobs) {
                                size_t j = op % 11 == 1 ? 0 : arg % K.n_jobs;
                                int err = op % 11 == 2 && (arg & 0x80) ? ((arg & 0x40) ? -EBUSY : -EIO) : 0;
                                complete(h, j, err, now);
                        }
                        break;
                case 3: /* the client dies */
                        qz_holds_drop_owner(h, &K.owner_tag[owner], now);
                        K.busy[owner] = false;
                        break;
                case 4: {
                        qzd_hold *x = nth_hold(h, arg);
                        if (x)
                                qz_holds_release(h, x, QZ_GONE_THAWED, now);
                        break;
                }
                case 5: {
                        qzd_hold *x = nth_hold(h, arg);
                        if (x)
                                qz_holds_release_fs(h, x, x->fs[(arg >> 4) % x->n_fs], QZ_GONE_THAWED, now);
                        break;
                }
                case 6: {
                        qzd_hold *x = nth_hold(h, arg);
                        if (x)
                                qz_holds_reset_timeout(
                                        h, x, (arg & 1) ? QZ_USEC_INFINITY : (1 + (usec_t)arg * 20) * 1000,
                                        now);
                        break;
                }
                case 7: /* time passes; the timer fires */
                        now += (usec_t)arg * 20000;
                        if (qz_holds_next_deadline(h) <= now)
                                qz_holds_expire(h, now);
                        break;
                case 8: { /* the guard thawed at its hard deadline */
                        fake_fs *f = &K.fs[arg % N_FS];
                        if (f->fs->state == QZ_FS_FROZEN && f->frozen && !f->pending) {
                                f->frozen = false;
                                qz_holds_thawed_externally(h, f->fs, now);
                        }
                        break;
                }
                case 9: {
                        qzd_hold *x =
                                qz_holds_find_for(h, K.fs[arg % N_FS].fs, &K.owner_tag[owner], (uid_t)owner);
                        if (x && x->uid != (uid_t)owner && owner != 0)
                                abort(); /* someone else's hold */
                        break;
                }
                case 10:
                        qz_holds_prune(h, arg % 3);
                        refresh(h);
                        break;
                case 11: { /* a probe found the freeze lifted; maybe someone else's is in place now */
                        fake_fs *f = &K.fs[arg % N_FS];
                        if (f->fs->state == QZ_FS_FROZEN) {
                                f->fs->foreign = arg & 0x80;
                                qz_holds_breach(h, f->fs, "fuzz breach", now);
                        }
                        break;
                }
                }
                /* Invariants at every step. */
                for (int f = 0; f < N_FS; f++) {
                        qz_fs *fs = K.fs[f].fs;
                        if (K.fs[f].frozen && !K.fs[f].pending && fs->state != QZ_FS_FROZEN)
                                abort(); /* the kernel says frozen, we lost track */
                        if (fs->state == QZ_FS_FROZEN && fs->refs == 0)
                                abort(); /* frozen without a reference and no thaw started */
                }
                /* A broken hold's marks name only its filesystems. */
                for (qzd_hold *x = qz_holds_first(h); x; x = x->next)
                        if (x->n_fs < 64 && (x->broken_mask >> x->n_fs) != 0)
                                abort();
                /* The kept earliest deadline is the one a walk of everything finds. */
                usec_t earliest = QZ_USEC_INFINITY;
                for (qzd_hold *x = qz_holds_first(h); x; x = x->next)
                        if (x->deadline < earliest)
                                earliest = x->deadline;
                for (qz_fs *fs = qz_holds_first_fs(h); fs; fs = fs->next)
                        if (fs->state == QZ_FS_FROZEN && fs->ceiling_at < earliest)
                                earliest = fs->ceiling_at;
                if (qz_holds_next_deadline(h) != earliest)
                        abort();
        }
        /* quiesced stops: everything is released and every ioctl returns. */
        for (int o = 0; o < N_OWNERS; o++)
                qz_holds_drop_owner(h, &K.owner_tag[o], now);
        qz_holds_release_all(h, QZ_GONE_STOPPING, now);
        for (int rounds = 0; K.n_jobs && rounds < 1000; rounds++)
                complete(h, 0, 0, now);
        qz_holds_release_all(h, QZ_GONE_STOPPING, now);
        for (int rounds = 0; K.n_jobs && rounds < 1000; rounds++)
                complete(h, 0, 0, now);
        for (int f = 0; f < N_FS; f++) {
                if (K.fs[f].frozen || K.fs[f].fs->refs || K.fs[f].fs->state != QZ_FS_THAWED)
                        abort(); /* left frozen after everything was released */
                if (K.fs[f].fs->ioctl_fd >= 0)
                        abort(); /* a descriptor kept on an idle filesystem: it cannot be unmounted */
        }
        if (qz_holds_count(h) || qz_holds_busy(h))
                abort();
        qz_holds_free(h);
        return 0;
}
