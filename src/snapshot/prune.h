/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prune.h - a retention policy (retention.h) carried out: over the
 * snapshots of a store (prune.c: deleted through each provider's own
 * delete, qz_snapshot_delete), and over the archives of a backup target
 * directory (prune_archives.c: each ARCHIVE known by its sidecar
 * ARCHIVE.manifest.json, the manifest of the snapshot it was made from).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "retention.h"
#include "snapshot.h"

#define QZ_ARCHIVE_SIDECAR_SUFFIX ".manifest.json" /* ARCHIVE.manifest.json */

typedef struct qz_prune_entry {
        char *name;    /* the snapshot's name (archives: the archive's file name) */
        char *created; /* as in the manifest, or NULL */
        char *job;     /* or NULL */
        char *label;   /* the proven label's name, or NULL (unknown) */
        char *pinned;  /* who pins it (qz_pins_describe), or NULL */
        bool keep;
        bool removed;           /* deleted now (never with dry_run) */
        char reason[256];       /* "keep: daily 2026-11-29", "remove: crash-consistent, never counts" */
        char *error;            /* the removal failed: why, or NULL */
        unsigned order;         /* removals: their order (1 first), 0 for a kept one */
        time_t time;            /* created, parsed */
        qz_retention_kind kind; /* as retention saw it */
        char *why;              /* broken / not touched: why, or NULL */
        char *path;             /* archives: the archive's path; else NULL */
        char *snapshot;         /* archives: the snapshot's name (from the sidecar), which breaks
                                 * ties of time before the file name; else NULL (name does) */
} qz_prune_entry;

typedef struct qz_prune_result {
        char *policy;      /* qz_retention_describe() */
        qz_prune_entry *v; /* newest first */
        size_t n, n_keep, n_remove, n_removed, n_failed;
} qz_prune_result;

void qz_prune_result_done(qz_prune_result *r);

/* Applies policy to the snapshots of the store (NULL: qz_store_dir's
 * default): with job, those whose manifest names that job; without, each
 * job's snapshots (and those of no job) as a group of their own, as restic
 * groups by host and paths. The proven label decides what counts
 * (qz_manifest_proven_label); a snapshot that is incomplete or whose storage
 * is missing or damaged (qz_snapshot_verify) is broken; a snapshot a run
 * still holds the reservation of is never touched; pins keep (pin.h).
 * Removals go crash-consistent and broken first, then oldest first, each
 * through qz_snapshot_delete (which refuses one pinned meanwhile). dry_run:
 * decides and reports only. msg gets the deletes' messages. 0; -EINVAL (an
 * empty policy: nothing done), -EIO (some removal failed: see ret), -errno
 * (the store could not be read). ret is filled on 0 and -EIO; free it with
 * qz_prune_result_done(). */
int qz_snapshot_prune(const char *store, const char *job, const qz_retention *policy, bool dry_run,
                      qz_snapshot_msg_fn msg, void *userdata, qz_prune_result *ret);

/* The same over the archives in dir: every file with a sidecar
 * ARCHIVE.manifest.json (written by quiesce backup --to) whose manifest
 * names job (job NULL: grouped by job as above); the label and time are
 * the snapshot's. A file without a sidecar is not quiesce's and is left
 * alone (not listed). Removing unlinks the archive, then its sidecar. */
int qz_archive_prune(const char *dir, const char *job, const qz_retention *policy, bool dry_run,
                     qz_snapshot_msg_fn msg, void *userdata, qz_prune_result *ret);

/* ---- shared by the two (prune.c) ---- */

/* created "2026-11-22T11:15:00Z" into *t: true, or false when unreadable. */
bool qz_prune_parse_time(const char *created, time_t *t);
/* Decides ret->v[0..n) (name, job, time, kind, why, pinned filled in) by
 * policy, each job a group of its own; sorts them newest first (the same
 * second: the greater snapshot name by strverscmp, NAME-2 newer than NAME,
 * then the greater file name) and numbers
 * the removals (crash-consistent and broken first, then oldest first).
 * 0 or -EINVAL (an empty policy). */
int qz_prune_decide(const qz_retention *policy, qz_prune_result *ret);
