/* freezer.h - the kernel calls, off the event loop: each syncfs+FIFREEZE or
 * FITHAW (and a group's early pre-flush) runs in a short-lived worker thread, so a freeze that takes seconds
 * never delays a thaw, a deadline or a status answer. Completions come back
 * to the loop through an eventfd.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "holds.h"

typedef struct qz_freezer qz_freezer;

/* What a FIFREEZE or FITHAW job came back with. */
typedef struct qz_freeze_result {
        bool freeze;
        int err;
        /* for a freeze refused with EBUSY because a device-mapper device under
         * the filesystem is suspended, that device's name; otherwise "" */
        const char *detail;
        usec_t start, end;    /* the ioctl itself */
        usec_t preflush_usec; /* a freeze's syncfs before it */
        bool throttled;       /* the writers were slowed during it (throttle.h) */
} qz_freeze_result;

typedef void (*qz_freezer_done_fn)(void *ud, qz_fs *fs, const qz_freeze_result *r);

/* throttle: slow the writers during the pre-flush (throttle.h), not stall
 * them; state_dir: where it notes what it changed (the runtime directory). */
qz_freezer *qz_freezer_new(sd_event *e, int guard_sock, int64_t max_frozen_ms, bool throttle,
                           const char *state_dir, qz_freezer_done_fn done, void *ud);
void qz_freezer_free(qz_freezer *f);

/* Starts the worker. fs->ioctl_fd must be open. */
int qz_freezer_start(qz_freezer *f, qz_fs *fs, bool freeze);

/* Flushes fs ahead of its freeze (a later member of a group), on a
 * descriptor of its own; nothing comes back to the loop. */
int qz_freezer_preflush(qz_freezer *f, qz_fs *fs);

unsigned qz_freezer_inflight(qz_freezer *f);
uint64_t qz_freezer_fifreeze_calls(qz_freezer *f);
uint64_t qz_freezer_fithaw_calls(qz_freezer *f);

usec_t qz_now(void); /* CLOCK_BOOTTIME */
