/* backup.c - `quiesce backup`: from a snapshot (named, or made now), a
 * read-only private mount of each filesystem, then an archive (--to) or a
 * command (--exec) on it; every temporary object undone on every exit path.
 */
#include <stdlib.h>

#include "backup.h"
#include "cli.h"

int cmd_backup(struct cli *cli, int argc, char **argv) {
        cli_error("backup: not implemented yet");
        return EXIT_FAILURE;
}
