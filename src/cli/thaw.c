/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thaw.c - `quiesce thaw [--json] PATH...` releases the caller's most recent
 * hold on each path's filesystem; `quiesce thaw --hold ID` releases one hold.
 * Quiet on success (like fsfreeze -u); --json prints quiesced's answer.
 */
#include "cli.h"

static int thaw(qz_client *c, const struct hold_selection *t) {
        return t->by_hold ? qz_client_thaw_hold(c, t->hold) : qz_client_thaw_paths(c, t->paths, t->n_paths);
}

int cmd_thaw(struct cli *cli, int argc, char **argv) {
        return cli_hold_command(cli, "thaw", false, thaw, argc, argv);
}
