/* reset_timeout.c - `quiesce reset-timeout --timeout D (PATH...|--hold ID)`:
 * re-arms a hold's deadline to D from now (the patch's FIFREEZE_RESET_TIMEOUT).
 * Quiet on success; --json prints the holds as quiesced answered.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

enum { OPT_HOLD = 0x100 };

int cmd_reset_timeout(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"timeout", required_argument, NULL, 't'},
                {"hold", required_argument, NULL, OPT_HOLD},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        bool json = false, by_hold = false, timeout_given = false;
        uint64_t hold = 0;
        int64_t timeout_ms = 0;
        int opt;

        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "t:J", longopts, NULL)) != -1) {
                switch (opt) {
                case 't':
                        if (cli_parse_timeout(optarg, &timeout_ms) < 0)
                                return EXIT_USAGE;
                        timeout_given = true;
                        break;
                case OPT_HOLD:
                        if (cli_parse_hold_id(optarg, &hold) < 0)
                                return EXIT_USAGE;
                        by_hold = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "reset-timeout", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        char *const *paths = argv + optind;
        size_t n_paths = (size_t)(argc - optind);
        if (!timeout_given)
                return cli_usage_error("reset-timeout: --timeout is required");
        int usage = cli_check_hold_or_paths("reset-timeout", by_hold, n_paths);
        if (usage >= 0)
                return usage;

        qz_client *c = cli_connect(cli);
        if (!c)
                return EXIT_FAILURE;
        char what[64];
        snprintf(what, sizeof(what), "hold %" PRIu64, hold);
        int r = by_hold ? qz_client_reset_timeout_hold(c, hold, timeout_ms)
                        : qz_client_reset_timeout_paths(c, (const char *const *)paths, n_paths, timeout_ms);
        if (r < 0)
                cli_client_error(c, r, by_hold ? what : paths[0]);
        else if (json)
                cli_print_json(qz_client_last_reply(c), NULL);
        qz_client_close(c);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
