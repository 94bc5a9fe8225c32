/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reset_timeout.c - `quiesce reset-timeout --timeout D (PATH...|--hold ID)`:
 * re-arms a hold's deadline to D from now (the patch's FIFREEZE_RESET_TIMEOUT).
 * Quiet on success; --json prints the holds as quiesced answered.
 */
#include "cli.h"

static int reset_timeout(qz_client *c, const struct hold_selection *t) {
        return t->by_hold ? qz_client_reset_timeout_hold(c, t->hold, t->timeout_ms)
                          : qz_client_reset_timeout_paths(c, t->paths, t->n_paths, t->timeout_ms);
}

int cmd_reset_timeout(struct cli *cli, int argc, char **argv) {
        return cli_hold_command(cli, "reset-timeout", true, reset_timeout, argc, argv);
}
