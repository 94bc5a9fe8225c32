/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freezer.h - the kernel calls, off the event loop. A freeze runs in a
 * keeper thread that lives as long as the freeze: syncfs + FIFREEZE, then
 * a probe at every interval (a FIFREEZE that must answer EBUSY, and the
 * block device's write counter: proof.h) so a freeze lifted by another
 * process is found and the filesystem frozen again, and at the end the
 * FITHAW, unless the freeze in place is somebody else's. A group's early
 * pre-flush is a short-lived thread of its own. Results come back to the
 * loop through an eventfd.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "holds.h"
#include "proof.h"

typedef struct qz_freezer qz_freezer;

typedef enum qz_report_kind {
        QZ_REPORT_FROZEN, /* the freeze's FIFREEZE came back (err says how) */
        QZ_REPORT_PROBE,  /* a probe asked for, or one that found a breach */
        QZ_REPORT_THAWED, /* the keeper is done: FITHAW, or the freeze left to its owner */
} qz_report_kind;

/* What a keeper reports. */
typedef struct qz_freeze_result {
        qz_report_kind kind;
        bool freeze; /* kind == QZ_REPORT_FROZEN */
        int err;     /* FIFREEZE's (FROZEN) or FITHAW's (THAWED) negative errno, 0 done */
        /* for a freeze refused with EBUSY because a device-mapper device under
         * the filesystem is suspended, that device's name; otherwise "" */
        const char *detail;
        usec_t start, end;    /* the ioctl itself */
        usec_t preflush_usec; /* a freeze's syncfs before it */
        bool throttled;       /* the writers were slowed during it (throttle.h) */
        /* proof */
        const char *device;    /* the block device(s) counted, "" none */
        bool have_sectors;     /* the write counter could be read */
        uint64_t sectors_base; /* the counter right after FIFREEZE */
        qz_probe probe;        /* PROBE, THAWED: the probe taken (THAWED: the last, before FITHAW) */
        qz_verdict verdict;    /* PROBE, THAWED: its verdict */
        usec_t probe_at;
        bool ours;          /* after it: the freeze in place is quiesced's */
        unsigned probe_seq; /* PROBE: the number of the last probe asked before it began */
        bool thaw_ioctl;    /* THAWED: FITHAW was called (false: left to its owner) */
} qz_freeze_result;

typedef void (*qz_freezer_done_fn)(void *ud, qz_fs *fs, const qz_freeze_result *r);

/* throttle: slow the writers during the pre-flush (throttle.h), not stall
 * them; state_dir: where it notes what it changed (the runtime directory);
 * probe_interval: a frozen filesystem's probe period (QZ_USEC_INFINITY
 * none); max_frozen: the ceiling (QZ_USEC_INFINITY none). */
qz_freezer *qz_freezer_new(sd_event *e, int guard_sock, usec_t max_frozen, bool throttle,
                           const char *state_dir, usec_t probe_interval, qz_freezer_done_fn done, void *ud);
void qz_freezer_free(qz_freezer *f);

/* freeze: starts fs's keeper (fs->ioctl_fd must be open). !freeze: tells
 * fs's keeper to thaw and end. */
int qz_freezer_start(qz_freezer *f, qz_fs *fs, bool freeze);
/* Asks fs's keeper for a probe that begins after this call; its result
 * comes back as a QZ_REPORT_PROBE whose probe_seq is at least the number
 * returned here (or as the QZ_REPORT_THAWED). -ENOENT: fs has no keeper. */
int qz_freezer_probe(qz_freezer *f, qz_fs *fs);
/* The guard thawed fs: its keeper ends without a kernel call; its reports
 * are dropped. */
void qz_freezer_abandon(qz_freezer *f, qz_fs *fs);

/* What fs's keeper knows now (for status): probes done and when the last
 * was, the counter then. false when fs has no keeper. */
#define QZ_PROBE_NONE 1 /* no FIFREEZE answer yet: never an answer, which is <= 0 */
typedef struct qz_keeper_view {
        uint64_t probes;
        usec_t last_probe_at;
        bool have_sectors;
        uint64_t sectors;
        int last_err; /* the last probe's FIFREEZE answer (-errno, 0: it froze it), QZ_PROBE_NONE: none */
} qz_keeper_view;
bool qz_freezer_view(const qz_fs *fs, qz_keeper_view *ret);

/* Flushes fs ahead of its freeze (a later member of a group), on a
 * descriptor of its own; nothing comes back to the loop. */
int qz_freezer_preflush(qz_freezer *f, qz_fs *fs);

unsigned qz_freezer_inflight(qz_freezer *f);
uint64_t qz_freezer_fifreeze_calls(qz_freezer *f);
uint64_t qz_freezer_fithaw_calls(qz_freezer *f);
uint64_t qz_freezer_probe_calls(qz_freezer *f);
