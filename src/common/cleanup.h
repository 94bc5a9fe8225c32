/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cleanup.h - scope-bound cleanup, systemd style: a variable declared with
 * one of these is freed (closed, put) when it goes out of scope, so a
 * function that fails half-way returns at once instead of unwinding a chain
 * of gotos. TAKE_PTR / TAKE_FD hand the value on and disarm the cleanup.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void qz_freep(void *p) {
        free(*(void **)p);
}

/* Closes a descriptor >= 0, keeping errno (a failed close says nothing the
 * caller can act on). */
static inline void qz_closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

#define _cleanup_free_ _cleanup_(qz_freep)
#define _cleanup_close_ _cleanup_(qz_closep)

/* Defines fn##p(T **p) that calls fn(*p) unless it is NULL. */
#define QZ_DEFINE_POINTER_CLEANUP(T, fn)                                                                     \
        static inline void fn##p(T **p) {                                                                    \
                if (*p)                                                                                      \
                        fn(*p);                                                                              \
        }

/* The value, with the variable emptied so its cleanup does nothing. */
#define TAKE_PTR(p)                                                                                          \
        ({                                                                                                   \
                __typeof__(p) _taken = (p);                                                                  \
                (p) = NULL;                                                                                  \
                _taken;                                                                                      \
        })
#define TAKE_FD(fd)                                                                                          \
        ({                                                                                                   \
                int _taken = (fd);                                                                           \
                (fd) = -1;                                                                                   \
                _taken;                                                                                      \
        })
