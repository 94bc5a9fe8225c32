/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run.h - one `quiesce snapshot` run, shared by the files of its steps
 * (private to src/snapshot): plan.c plans, checks and prepares (steps 1-2);
 * snapshot.c runs the rest (hooks, freeze, take, verify and thaw, label,
 * write) and the helpers below.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "hooks.h"
#include "provider.h"

#define CHECK_RESET_MS 2000  /* the hold's deadline while we check it and thaw */
#define PENDING_REAP_MS 5000 /* after the thaw, how long to wait for a provider stuck in the kernel */

struct run {
        const qz_snapshot_opts *o;
        usec_t t0;

        /* messages: queued while something is frozen */
        bool quiet;
        char **queued;
        size_t n_queued;

        /* plan */
        const qz_provider *forced; /* --provider, or exec for --exec-cmd; NULL: auto */
        char *store;
        qz_reservation resv;
        const char *name; /* the reserved one */
        qz_target *T;
        size_t nT;
        qz_manifest *m;

        /* check and prepare */
        qz_client *c; /* NULL: --no-freeze, or nothing to freeze and no quiesced */
        qz_status *status;
        qz_snap_ctx ctx;
        int64_t margin; /* of the deadline, kept for the check and the thaw */
        qz_hooks hooks;
        bool hooks_loaded;
        pid_t *pending; /* per target: a provider's child stuck in the kernel */

        /* hooks, freeze */
        size_t n_freeze_hooks, n_freeze_hooks_failed;
        qz_hold *hold; /* NULL: nothing frozen */
        bool freeze_failed;
        usec_t freeze_t; /* asked for; once granted, the grant (its deadline runs from there) */
};

/* Says a line (queued while something is frozen: run_speak_again). */
void run_say(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void run_speak_again(struct run *R);
void run_note(qz_manifest *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool run_interrupted(const struct run *R);
void run_proof_from_ref(qz_snap_proof *p, const qz_fs_ref *ref);
const qz_fs_ref *run_hold_fs(const qz_hold *h, const char *id);
void run_iso_now(char *buf, size_t size);
int64_t run_clamp(int64_t v, int64_t lo, int64_t hi);

/* Step 1, plan: the options, the name, every path and its provider. */
int run_plan(struct run *R);
/* Step 2, check and prepare: quiesced, the providers, the store, the hooks. */
int run_check_and_prepare(struct run *R);
