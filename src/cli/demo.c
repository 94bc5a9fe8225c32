/* demo.c - `quiesce demo`: a pool, a data filesystem, a writer, a snapshot
 * through quiesce, a backup of it, and the proof that it is consistent; all
 * in a temporary directory removed on every exit path.
 */
#include <stdlib.h>

#include "backup.h"
#include "cli.h"

int cmd_demo(struct cli *cli, int argc, char **argv) {
        cli_error("demo: not implemented yet");
        return EXIT_FAILURE;
}
