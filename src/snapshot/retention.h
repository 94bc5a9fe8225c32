/* SPDX-License-Identifier: GPL-2.0-or-later */
/* retention.h - which snapshots (or archives) a retention policy keeps, and
 * why: restic's `forget --keep-*` over the consistent ones only. Pure logic
 * (no clock, no I/O; local time through localtime_r and $TZ), unit-tested.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define QZ_RETENTION_ALL UINT_MAX /* a keep class of "unlimited": every bucket */

/* The policy (restic's --keep-last, --keep-hourly, ...). All 0: empty, and
 * an empty policy is refused rather than removing everything. */
typedef struct qz_retention {
        unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly;
} qz_retention;

/* What an item is, as far as retention cares. */
typedef enum qz_retention_kind {
        QZ_RETAIN_CONSISTENT = 0, /* application- or filesystem-consistent (the proven label) */
        QZ_RETAIN_CRASH,          /* crash-consistent: never holds a slot, removed first */
        QZ_RETAIN_BROKEN,         /* incomplete, or its storage is missing or damaged: the same */
        QZ_RETAIN_IN_PROGRESS,    /* a run still holds its name (or it cannot be placed): never touched */
} qz_retention_kind;

typedef struct qz_retention_item {
        /* in */
        const char *id;         /* the snapshot's (or archive's) name: breaks ties of time */
        time_t time;            /* when it was made (UTC seconds; bucketed in local time) */
        qz_retention_kind kind; /* */
        const char *why;        /* broken: why; in progress: what ("in progress (pid 77)"); or NULL */
        const char *pinned_by;  /* "pid 4242 (quiesce backup, since 03:10:02)", or NULL */
        /* out */
        bool keep;
        unsigned order;   /* removals: the order to remove in (crash and broken first, then oldest) */
        char reason[256]; /* "keep: daily 2026-11-29, weekly 2026-W48" or "remove: ..." */
} qz_retention_item;

bool qz_retention_empty(const qz_retention *p);
/* "keep 7 daily, 4 weekly" (malloc'd). */
char *qz_retention_describe(const qz_retention *p);
/* Decides keep or remove for items[0..n) (their order is left as it is) and
 * sets each reason. restic's rules: the consistent items newest first (ties:
 * the greater id first, by strverscmp: NAME-10 after NAME-9 after NAME); for each class with slots left, an
 * item whose bucket (its local hour, day, ISO week or month; "last": every item) differs from the last one
 * kept by that class is kept and uses a slot, and when the oldest item is reached with slots left it is kept
 * too ("oldest daily"). A pinned item is kept whatever the rules say (and holds no extra slot). 0, or -EINVAL
 * for an empty policy (nothing is decided). */
int qz_retention_apply(const qz_retention *p, qz_retention_item *items, size_t n);
