/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bytes.h - sizes as people read them ("512 B", "1.5 MiB"): the one byte
 * formatter of the quiesce command's snapshot, backup and demo output.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* "512 B", "12.0 KiB", "1.5 MiB" ... up to PiB, into buf. */
const char *qz_format_bytes(uint64_t n, char *buf, size_t size);
