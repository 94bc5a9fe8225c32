/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pin.h - what keeps a snapshot from being deleted (pin.c): a lease, held
 * by a live process (flock'ed STORE/.leases/NAME.PID.N.lease: it dies with
 * the process, a lease whose lock is free is stale and removed), and a
 * lasting pin (STORE/NAME.pin, beside the manifest: survives reboots, until
 * unpinned). Delete and prune refuse a pinned snapshot and name the holder.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define QZ_LEASES_DIR ".leases" /* STORE/.leases/ */
#define QZ_PIN_SUFFIX ".pin"    /* STORE/NAME.pin */

typedef struct qz_pin {
        bool lasting;  /* a lasting pin (quiesce snapshot pin), else a live lease */
        long pid;      /* the lease's holder (a lasting pin: who made it), 0 unknown */
        char *command; /* "quiesce backup", or NULL */
        char *reason;  /* or NULL */
        char *since;   /* "2026-12-02T03:10:02Z", or NULL */
} qz_pin;

/* The pins on STORE/NAME: live leases first, then the lasting pin. Stale
 * leases are removed on the way (when we may). 0 (*n may be 0) or -errno. */
int qz_pins_get(const char *store, const char *name, qz_pin **ret, size_t *n);
void qz_pins_free(qz_pin *v, size_t n);
/* "pid 4242 (quiesce backup, since 03:10:02)", "a lasting pin (since
 * 2026-12-02 03:10:02: REASON)" (local time; malloc'd). */
char *qz_pin_describe(const qz_pin *p);
/* All of them, joined by "; " (malloc'd), or NULL when n is 0. */
char *qz_pins_describe(const qz_pin *v, size_t n);

/* A lease: held while fd is open (and by nobody else: O_CLOEXEC). */
typedef struct qz_lease {
        int fd;     /* -1: none */
        char *path; /* STORE/.leases/NAME.PID.N.lease */
} qz_lease;
#define QZ_LEASE_NULL ((qz_lease){.fd = -1, .path = NULL})

/* Takes a lease on the snapshot NAME of the store for this process, naming
 * command and reason. Serialised with delete (the manifest's flock), so a
 * snapshot being deleted is not leased. 0; -ENOENT (no such snapshot, or
 * deleted meanwhile), -errno; *ret_error says why. */
int qz_lease_take(const char *store, const char *name, const char *command, const char *reason, qz_lease *l,
                  char **ret_error);
/* Removes and unlocks it (idempotent). */
void qz_lease_release(qz_lease *l);

/* A lasting pin on STORE/NAME (STORE/NAME.pin): 0, -ENOENT (no such
 * snapshot), -EEXIST (pinned already: *ret_error says since when), -errno. */
int qz_pin_add(const char *store, const char *name, const char *reason, char **ret_error);
/* Removes it: 0, -ENOENT (not pinned, or no such snapshot), -errno. */
int qz_pin_remove(const char *store, const char *name, char **ret_error);

/* Opens STORE/NAME.json and flock()s it, shared (a lease or pin being
 * taken) or exclusive (a delete); -ENOENT when it is gone (or was removed
 * while we waited). The fd, or -errno. */
int qz_manifest_lock(const char *store, const char *name, bool exclusive);
