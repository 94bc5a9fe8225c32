/* SPDX-License-Identifier: GPL-2.0-or-later */
/* label.h - the consistency label of a snapshot (DESIGN.md, "Consistency
 * labels"), decided from what happened: pure logic, unit-tested.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum qz_label {
        QZ_LABEL_APPLICATION = 0, /* application-consistent */
        QZ_LABEL_FILESYSTEM,      /* filesystem-consistent */
        QZ_LABEL_CRASH,           /* crash-consistent */
} qz_label;

/* What the label is decided from. */
typedef struct qz_label_input {
        bool no_freeze;               /* --no-freeze */
        bool freeze_failed;           /* the group freeze failed (and we went on without it) */
        bool provider_failed;         /* a provider failed, timed out or was interrupted */
        size_t n_fs;                  /* filesystems snapshotted */
        size_t n_fs_consistent;       /* of them: frozen throughout, or an atomic (btrfs) snapshot */
        size_t n_fs_broken;           /* of them: their freeze was lifted by another process (the proof) */
        size_t n_freeze_hooks;        /* freeze hooks found (run or refused) */
        size_t n_freeze_hooks_failed; /* refused, not started, non-zero exit, signal, timeout */
        size_t n_writers;             /* registered writers of the filesystems (quiesced's report) */
        size_t n_writers_unacked;     /* of them: did not acknowledge freeze, or went before thaw */
} qz_label_input;

/* The label and a one-line reason (a static string). */
qz_label qz_label_decide(const qz_label_input *in, const char **reason);

const char *qz_label_name(qz_label l);
/* 0 and *ret, or -1 for an unknown name. */
int qz_label_from_name(const char *name, qz_label *ret);
