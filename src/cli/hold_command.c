/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hold_command.c - what `quiesce thaw` and `quiesce reset-timeout` share: they
 * act on one hold (--hold ID) or on the caller's holds on paths, never both
 * nor neither; quiet on success, --json prints quiesced's answer. Each
 * command passes the one call that differs.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

enum { OPT_HOLD = 0x100 };

static int check_hold_or_paths(const char *cmd, bool by_hold, size_t n_paths) {
        if (by_hold && n_paths > 0)
                return cli_usage_error("%s: give either --hold ID or paths, not both", cmd);
        if (!by_hold && n_paths == 0)
                return cli_usage_error("%s: no path given", cmd);
        return -1;
}

int cli_hold_command(struct cli *cli, const char *cmd, bool needs_timeout, cli_hold_call call, int argc,
                     char **argv) {
        static const struct option longopts[] = {
                {"timeout", required_argument, NULL, 't'}, /* first: thaw skips it */
                {"hold", required_argument, NULL, OPT_HOLD},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        struct hold_selection t = {0};
        bool json = false, timeout_given = false;
        int opt;

        const struct option *opts = needs_timeout ? longopts : longopts + 1;
        const char *shortopts = needs_timeout ? CLI_COMMON_SHORTOPTS "t:J" : CLI_COMMON_SHORTOPTS "J";
        while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
                switch (opt) {
                case 't':
                        if (cli_parse_timeout(optarg, &t.timeout_ms) < 0)
                                return EXIT_USAGE;
                        timeout_given = true;
                        break;
                case OPT_HOLD:
                        if (cli_parse_hold_id(optarg, &t.hold) < 0)
                                return EXIT_USAGE;
                        t.by_hold = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, cmd, opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        t.paths = (const char *const *)(argv + optind);
        t.n_paths = (size_t)(argc - optind);
        if (needs_timeout && !timeout_given)
                return cli_usage_error("%s: --timeout is required", cmd);
        int usage = check_hold_or_paths(cmd, t.by_hold, t.n_paths);
        if (usage >= 0)
                return usage;

        qz_client *c = cli_connect(cli);
        if (!c)
                return EXIT_FAILURE;
        int r = call(c, &t);
        if (r < 0) {
                char what[64];
                snprintf(what, sizeof(what), "hold %" PRIu64, t.hold);
                cli_client_error(c, r, t.by_hold ? what : t.paths[0]);
        }
        /* A freeze that did not hold is still released (or re-armed): its
         * answer is printed like a success's, and the exit status says it. */
        if (json && (r >= 0 || r == -QZ_EBROKEN))
                cli_print_json(qz_client_last_reply(c), NULL);
        qz_client_close(c);
        return r == -QZ_EBROKEN ? EXIT_FREEZE_BROKEN : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
