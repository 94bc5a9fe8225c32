/* SPDX-License-Identifier: GPL-2.0-or-later */
/* clock.h - the one clock of quiesce: CLOCK_BOOTTIME, which quiesced's
 * deadlines run on and which keeps counting through a suspend. Microseconds
 * inside (usec_t), milliseconds where the protocol and the user see them.
 */
#pragma once

#include <stdint.h>

typedef uint64_t usec_t; /* CLOCK_BOOTTIME microseconds */
#define QZ_USEC_INFINITY UINT64_MAX
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL

/* Now, in CLOCK_BOOTTIME microseconds. A plain function: safe in the guard
 * process and in any thread. */
usec_t qz_now(void);

/* Now, in CLOCK_BOOTTIME milliseconds. */
static inline int64_t qz_now_ms(void) {
        return (int64_t)(qz_now() / 1000);
}
