/* SPDX-License-Identifier: GPL-2.0-or-later */
/* duration.c - durations as administrators write them ("500ms", "10s",
 * "2m", "1h", "1d", "none"), parsed and formatted. Public through quiesce.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quiesce.h"

int qz_parse_duration(const char *text, int64_t *ret_ms) {
        static const struct {
                const char *suffix;
                int64_t ms;
        } units[] = {
                {"ms", 1},      {"s", 1000},    {"sec", 1000},   {"m", 60000},
                {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1000},
        };
        if (!text || !*text)
                return -EINVAL;
        if (strcmp(text, "none") == 0 || strcmp(text, "infinity") == 0) {
                *ret_ms = QZ_NO_DEADLINE;
                return 0;
        }
        const char *p = text;
        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        errno = 0;
        char *end;
        double v = strtod(p, &end);
        if (errno || end == p || v < 0)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(end, units[i].suffix) != 0)
                        continue;
                double ms = v * (double)units[i].ms;
                if (ms > 365.0 * 24 * 3600 * 1000)
                        return -ERANGE;
                *ret_ms = (int64_t)(ms + 0.5);
                return 0;
        }
        return -EINVAL;
}

/* Whole units print bare ("2s", "1m", "3h"), so that what is printed of a
 * round duration also parses back; the quiesce command prints with it too. */
const char *qz_format_duration(int64_t ms, char *buf, size_t size) {
        if (ms < 0)
                snprintf(buf, size, "none");
        else if (ms < 1000)
                snprintf(buf, size, "%" PRId64 "ms", ms);
        else if (ms < 60000 && ms % 1000 == 0)
                snprintf(buf, size, "%" PRId64 "s", ms / 1000);
        else if (ms < 60000)
                snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
        else if (ms < 3600000 && (ms % 60000) / 1000 == 0)
                snprintf(buf, size, "%" PRId64 "m", ms / 60000);
        else if (ms < 3600000)
                snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", ms / 60000, (ms % 60000) / 1000);
        else if ((ms % 3600000) / 60000 == 0)
                snprintf(buf, size, "%" PRId64 "h", ms / 3600000);
        else
                snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, (ms % 3600000) / 60000);
        return buf;
}

const char *qz_version(void) {
        return QZ_VERSION_STRING;
}
