/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks.h - the hooks directory (qemu-guest-agent fsfreeze-hook style):
 * executables run in name order with "freeze" before the freeze and in
 * reverse with "thaw" after it; refused unless root-owned and not group- or
 * world-writable (the file and the directory).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

typedef struct qz_hook {
        char *name;
        int fd;        /* open on the checked file (executed through it), -1 if refused */
        char *refused; /* why it may not run, or NULL */
        bool ran;      /* its freeze run started: it is owed a thaw run */
} qz_hook;

typedef struct qz_hooks {
        char *dir;
        qz_hook *v;
        size_t n;
        char **env; /* QUIESCE_SNAPSHOT_NAME=..., QUIESCE_PATHS=... (NULL-terminated) */
        int64_t timeout_ms;
        volatile sig_atomic_t *interrupted;
} qz_hooks;

/* Lists dir (a missing directory means no hooks); skipped files (not
 * executable, backup names) are reported through notes. 0 or -errno with err. */
int qz_hooks_load(qz_hooks *h, const char *dir, const char *name, const char *const *paths, size_t n_paths,
                  int64_t timeout_ms, qz_manifest *notes, char **ret_error);
/* Runs every hook with "freeze", in name order; a refused one is reported
 * and not run. Appends results to m->hooks. Returns the number that failed. */
size_t qz_hooks_freeze(qz_hooks *h, qz_manifest *m);
/* Runs "thaw" for every hook whose freeze run started, in reverse order. */
size_t qz_hooks_thaw(qz_hooks *h, qz_manifest *m);
void qz_hooks_done(qz_hooks *h);
