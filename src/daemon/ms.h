/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ms.h - the one crossing between quiesced's usec_t and the milliseconds
 * of the protocol and the command line, where -1 means none.
 */
#pragma once

#include <stdint.h>

#include "clock.h"

/* ms < 0: none (QZ_USEC_INFINITY). */
static inline usec_t qz_usec_from_ms(int64_t ms) {
        return ms < 0 ? QZ_USEC_INFINITY : (usec_t)ms * 1000;
}

/* QZ_USEC_INFINITY: -1. */
static inline int64_t qz_usec_to_ms(usec_t u) {
        return u == QZ_USEC_INFINITY ? -1 : (int64_t)(u / 1000);
}
