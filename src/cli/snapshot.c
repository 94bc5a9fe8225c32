/* snapshot.c - `quiesce snapshot`, `quiesce snapshot list`, `quiesce
 * snapshot delete`: options, the report a person reads, exit codes. The
 * work is done by src/snapshot (qzsnapshot).
 */
#include <stdlib.h>

#include "cli.h"
#include "snapshot.h"

int cmd_snapshot(struct cli *cli, int argc, char **argv) {
        cli_error("snapshot: not implemented yet");
        return EXIT_FAILURE;
}
