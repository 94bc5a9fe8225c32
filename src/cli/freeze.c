/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freeze.c - `quiesce freeze [--timeout D|none] [--detach] [--json] PATH...`:
 * one group hold on all paths; prints its id. Detached, it returns at once;
 * otherwise it holds the freeze in the foreground until a signal or its end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_freeze(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"timeout", required_argument, NULL, 't'},
                {"detach", no_argument, NULL, 'd'},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        bool detach = false, json = false, timeout_given = false;
        int64_t timeout_ms = QZ_NO_DEADLINE;
        int opt;

        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "t:dJ", longopts, NULL)) != -1) {
                switch (opt) {
                case 't':
                        if (cli_parse_timeout(optarg, &timeout_ms) < 0)
                                return EXIT_USAGE;
                        timeout_given = true;
                        break;
                case 'd':
                        detach = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "freeze", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("freeze: no path given");
        if (detach && !timeout_given)
                timeout_ms = DETACHED_DEFAULT_TIMEOUT_MS; /* no deadline only when asked for */

        char *const *paths = argv + optind;
        size_t n_paths = (size_t)(argc - optind);
        /* In the foreground, signals are ours from before the hold exists: a
         * SIGINT right after the id is printed must still thaw and exit 0. */
        struct watch w = {.sigfd = -1};
        int r;
        if (!detach) {
                r = watch_signals(&w);
                if (r < 0) {
                        cli_error("cannot set up signal handling: %s", strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        qz_client *c = cli_connect(cli);
        if (!c) {
                watch_restore_signals(&w);
                return EXIT_FAILURE;
        }
        qz_hold *h;
        r = qz_client_freeze(c, (const char *const *)paths, n_paths, timeout_ms,
                             detach ? QZ_FREEZE_DETACHED : 0, &h);
        if (r < 0) {
                cli_client_error(c, r, paths[0]);
                qz_client_close(c);
                watch_restore_signals(&w);
                return EXIT_FAILURE;
        }
        if (json)
                cli_print_json(qz_client_last_reply(c), "hold");
        else
                printf("%" PRIu64 "\n", h->id);
        fflush(stdout);
        if (detach) {
                qz_hold_free(h);
                qz_client_close(c);
                return EXIT_SUCCESS;
        }

        /* Connection-bound: the hold lives as long as we stay connected. */
        char *label = cli_join(paths, n_paths, ", ");
        const char *thawed = n_paths > 1 ? "filesystems thawed" : "filesystem thawed";
        char dbuf[32];
        int ret = EXIT_FAILURE;
        r = watch_start(&w, c, h, timeout_ms);
        if (r == -EINVAL) {
                cli_error("hold %" PRIu64 " on %s: released before it could be watched; %s", h->id, label,
                          thawed);
                goto out;
        }
        if (r < 0) {
                cli_client_error(c, r, label);
                goto out;
        }
        switch (watch_wait(&w)) {
        case WATCH_SIGNAL:
                r = qz_client_thaw_hold(c, h->id);
                if (r == -QZ_EBROKEN) {
                        cli_client_error(c, r, label); /* names the breach; the hold is released */
                        ret = EXIT_FREEZE_BROKEN;
                        break;
                }
                if (r < 0 && r != -EINVAL) {
                        cli_client_error(c, r, label);
                        break;
                }
                ret = EXIT_SUCCESS;
                break;
        case WATCH_DEADLINE:
                if (w.by_ceiling)
                        cli_error("hold %" PRIu64 " on %s: quiesced's max-frozen ceiling of %s passed, %s",
                                  h->id, label, qz_format_duration(w.limit_ms, dbuf, sizeof(dbuf)), thawed);
                else
                        cli_error("hold %" PRIu64 " on %s: deadline passed, %s", h->id, label, thawed);
                break;
        case WATCH_RELEASED:
                cli_error("hold %" PRIu64 " on %s: released by a thaw from elsewhere", h->id, label);
                ret = EXIT_SUCCESS;
                break;
        case WATCH_LOST:
        case WATCH_CHILD:
                cli_error("hold %" PRIu64 " on %s: lost the connection to quiesced; the hold is released",
                          h->id, label);
                break;
        }
out:
        watch_restore_signals(&w);
        free(label);
        qz_hold_free(h);
        qz_client_close(c);
        return ret;
}
