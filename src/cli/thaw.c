/* thaw.c - `quiesce thaw [--json] PATH...` releases the caller's most recent
 * hold on each path's filesystem; `quiesce thaw --hold ID` releases one hold.
 * Quiet on success (like fsfreeze -u); --json prints quiesced's answer.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

enum { OPT_HOLD = 0x100 };

int cmd_thaw(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"hold", required_argument, NULL, OPT_HOLD},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        bool json = false, by_hold = false;
        uint64_t hold = 0;
        int opt;

        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "J", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_HOLD:
                        if (cli_parse_hold_id(optarg, &hold) < 0)
                                return EXIT_USAGE;
                        by_hold = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "thaw", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        char *const *paths = argv + optind;
        size_t n_paths = (size_t)(argc - optind);
        int usage = cli_check_hold_or_paths("thaw", by_hold, n_paths);
        if (usage >= 0)
                return usage;

        qz_client *c = cli_connect(cli);
        if (!c)
                return EXIT_FAILURE;
        char what[64];
        snprintf(what, sizeof(what), "hold %" PRIu64, hold);
        int r = by_hold ? qz_client_thaw_hold(c, hold)
                        : qz_client_thaw_paths(c, (const char *const *)paths, n_paths);
        if (r < 0)
                cli_client_error(c, r, by_hold ? what : paths[0]);
        else if (json)
                cli_print_json(qz_client_last_reply(c), NULL);
        qz_client_close(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
