/* SPDX-License-Identifier: GPL-2.0-or-later */
/* clock.c - the one clock (see clock.h). */
#include "clock.h"

#include <time.h>

usec_t qz_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (usec_t)ts.tv_sec * 1000000 + (usec_t)ts.tv_nsec / 1000;
}
