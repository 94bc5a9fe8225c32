/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mkdirp.h - `mkdir -p`, once for the daemon's runtime directory and the
 * snapshot store.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Makes path and its missing parents with mode. 0 or -errno; *created
 * (may be NULL) says whether path itself was made here. */
int qz_mkdir_p(const char *path, mode_t mode, bool *created);
