/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proof.h - whether a freeze quiesced made is still in place (DESIGN.md,
 * "Proof of a freeze"): one probe judged from its two signals, the answer
 * of a probe FIFREEZE and the block device's sectors-written counter, and
 * the sentence a breach is told with. Pure logic, unit-tested; the probes
 * run in the freezer's keeper threads. docs/snapshots.md has the table.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qz_verdict {
        QZ_VERDICT_HELD,     /* still frozen (EBUSY), nothing written */
        QZ_VERDICT_LIFTED,   /* the probe's FIFREEZE froze it: nothing held it; quiesced holds it again */
        QZ_VERDICT_REPLACED, /* EBUSY, but sectors were written: lifted and frozen again by someone else */
        QZ_VERDICT_WRITTEN,  /* sectors written, and no FIFREEZE answer to say who holds it now */
        QZ_VERDICT_UNKNOWN,  /* FIFREEZE failed otherwise and nothing was written: cannot tell */
} qz_verdict;

/* One probe, as the keeper took it. */
typedef struct qz_probe {
        bool ioctl;        /* a FIFREEZE was issued (else the counter alone was read) */
        int err;           /* its negative errno; 0 when it froze the filesystem */
        bool have_sectors; /* the counter could be read */
        uint64_t sectors;  /* the counter after the probe */
} qz_probe;

/* The verdict of probe p on a freeze whose counter stood at base when it
 * was last known in place; ours: the freeze in place was quiesced's. */
qz_verdict qz_proof_judge(bool ours, uint64_t base, const qz_probe *p);
/* Whose freeze is in place after verdict v (ours before it). */
bool qz_proof_ours_after(bool ours, qz_verdict v);
/* True when the freeze did not hold: the holds on it are broken. */
bool qz_verdict_is_breach(qz_verdict v);
const char *qz_verdict_name(qz_verdict v);
/* A probe's answer as a word: "EBUSY", "froze it", "EINVAL", "not probed". */
const char *qz_probe_answer(const qz_probe *p, char *buf, size_t size);

/* The breach sentence, e.g. "the freeze of ext4 7:1 (mounted at /srv/data)
 * was lifted by another process 0.6 s after it began (the probe's FIFREEZE
 * froze it again: nothing held it; 24 sectors written on loop1 since the
 * freeze); quiesced froze it again". fs_name: "ext4 7:1 (mounted at ...)";
 * device NULL when there is no counter; written: sectors since the freeze. */
char *qz_proof_describe(const char *fs_name, qz_verdict v, int64_t after_ms, const char *device,
                        bool have_sectors, uint64_t written); /* malloc'd; never cut short */
