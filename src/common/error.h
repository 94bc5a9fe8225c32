/* SPDX-License-Identifier: GPL-2.0-or-later */
/* error.h - the one way a function in quiesce hands back why it failed: it
 * returns a negative errno and sets *ret_error to a sentence naming the
 * path, the filesystem and the reason (malloc'd, the caller frees it; the
 * caller's variable starts as NULL, and ret_error may be NULL: no sentence).
 *
 *     _cleanup_free_ char *error = NULL;
 *     int r = bk_mount_snapshot(..., &error);
 *     if (r < 0)
 *             say("backup: %s", error);
 *
 *     return qz_error(ret_error, -ENOENT, "%s: no such snapshot", path);
 */
#pragma once

#include <stdarg.h>
#include <stdlib.h>

#include "xalloc.h"

static inline void qz_set_error(char **ret_error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void qz_set_error(char **ret_error, const char *fmt, ...) {
        if (!ret_error)
                return;
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        free(*ret_error);
        *ret_error = s;
}

/* qz_set_error(), then returns r (a negative errno). */
#define qz_error(ret_error, r, ...) (qz_set_error((ret_error), __VA_ARGS__), (r))
