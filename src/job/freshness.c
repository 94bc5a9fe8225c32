/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freshness.c - the verdict of `quiesce check`, pure: how old the newest
 * consistent snapshot or backup may be, in the Nagios plugin convention
 * (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
 */
#include <string.h>
#include <time.h>

#include "job.h"

const char *qz_check_status_name(qz_check_status s) {
        static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
        return (unsigned)s < 4 ? names[s] : "UNKNOWN";
}

qz_check_status qz_check_freshness(int64_t newest, int64_t now, int64_t warn_s, int64_t crit_s,
                                   int64_t *ret_age) {
        if (newest <= 0) {
                if (ret_age)
                        *ret_age = -1;
                return QZ_CHECK_CRITICAL;
        }
        int64_t age = now > newest ? now - newest : 0;
        if (ret_age)
                *ret_age = age;
        if (age >= crit_s)
                return QZ_CHECK_CRITICAL;
        if (age >= warn_s)
                return QZ_CHECK_WARNING;
        return QZ_CHECK_OK;
}

int64_t qz_check_parse_created(const char *created) {
        if (!created)
                return 0;
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return 0;
        return (int64_t)timegm(&tm);
}
