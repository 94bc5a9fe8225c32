/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xalloc.h - allocation that cannot fail for the caller: small strings where
 * running out of memory leaves nothing sane to do but abort (the snapshot
 * run's messages and the names it keeps). NULL in, NULL out for xstrdup.
 */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *xstrdup(const char *s) {
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                abort();
        return d;
}

static inline char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static inline char *xvasprintf(const char *fmt, va_list ap) {
        char *s;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        return s;
}

static inline char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *xasprintf(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        return s;
}
