/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cleanup.h - systemd-style scope cleanup: a variable declared with one of
 * these is released when it goes out of scope, on every return path.
 *
 *     _cleanup_free_ char *p = NULL;
 *     _cleanup_close_ int fd = -1;
 *     _cleanup_(qz_hold_freep) qz_hold *h = NULL;
 *
 * TAKE_PTR()/TAKE_FD() hand the value on and leave NULL/-1 behind.
 */
#pragma once

#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* void NAMEp(TYPE **p) calling fn(*p) when it is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn)                                                                \
        static inline void fn##p(type *p) {                                                                  \
                if (*p)                                                                                      \
                        fn(*p);                                                                              \
        }

#define TAKE_PTR(ptr)                                                                                        \
        ({                                                                                                   \
                __typeof__(ptr) _ptr_ = (ptr);                                                               \
                (ptr) = NULL;                                                                                \
                _ptr_;                                                                                       \
        })
#define TAKE_FD(fd)                                                                                          \
        ({                                                                                                   \
                int _fd_ = (fd);                                                                             \
                (fd) = -1;                                                                                   \
                _fd_;                                                                                        \
        })
