/* SPDX-License-Identifier: GPL-2.0-or-later */
/* glue.h - what joins holds.c to the freezer and the clients (glue.c). */
#pragma once

#include "freezer.h"
#include "holds.h"

typedef struct qz_daemon qz_daemon;

/* holds.c's callbacks; their user data is the qz_daemon. */
extern const qz_holds_ops qz_daemon_holds_ops;
/* The freezer's report callback (qz_freezer_done_fn); ud is the qz_daemon. */
void qz_daemon_freeze_done(void *ud, qz_fs *fs, const qz_freeze_result *r);
