/* SPDX-License-Identifier: GPL-2.0-or-later */
/* caps.h - least privilege after start: quiesced and its guard keep only the
 * capabilities they use (see docs/SECURITY.md for which and why) and give up
 * every other one for good: bounding set, ambient set, inheritable set,
 * securebits locked, no_new_privs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A capability mask (bit N is capability N). */
#define QZ_CAP(c) (UINT64_C(1) << (c))

/* Raises RLIMIT_MEMLOCK to infinity (so mlockall(MCL_FUTURE) needs no
 * CAP_IPC_LOCK afterwards). true when the limit is now infinite. */
bool qz_caps_unlimit_memlock(void);

/* Keeps `keep` (intersected with what the process has) in the permitted and
 * effective sets and drops everything else from them, from the inheritable
 * and ambient sets and from the bounding set; locks the securebits so that
 * uid 0 gains nothing by exec, and sets no_new_privs. Must run before any
 * thread exists (capabilities are per thread). 0, or -errno with a reason
 * in err. Without CAP_SETPCAP (not started as root) the bounding set and
 * securebits are left alone and the rest is still done. */
int qz_caps_drop(uint64_t keep, char *err, size_t errlen);

/* The calling thread's effective set. */
uint64_t qz_caps_effective(void);
/* "cap_sys_admin,cap_dac_read_search" into buf. */
const char *qz_caps_format(uint64_t mask, char *buf, size_t size);
