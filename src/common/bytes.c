/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bytes.c - the byte formatter (see bytes.h). */
#include "bytes.h"

#include <inttypes.h>
#include <stdio.h>

const char *qz_format_bytes(uint64_t n, char *buf, size_t size) {
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = (double)n;
        unsigned u = 0;
        while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", n);
        else
                snprintf(buf, size, "%.1f %s", v, units[u]);
        return buf;
}
