/* backup.h - the backup library (src/backup): temporary objects undone on
 * every exit path (cleanup.c), read-only snapshot mounts (snapmount.c),
 * archives (archive.c), commands on a mounted snapshot (exec.c).
 */
#pragma once

#include <stdbool.h>

/* ---- cleanup.c ---- */

/* Installs SIGINT/SIGTERM/SIGHUP handlers that only set a flag. */
int bk_cleanup_init(void);
bool bk_interrupted(void);
