/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run.c - `quiesce run [--timeout D] PATH... -- COMMAND [ARG...]`: freeze
 * (a connection-bound hold), run COMMAND (no shell), always thaw. If the
 * freeze ends first, the command is killed and quiesce exits 124.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "cli.h"

int cmd_run(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"timeout", required_argument, NULL, 't'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        int64_t timeout_ms = RUN_DEFAULT_TIMEOUT_MS;
        int opt;

        /* Options and paths come before the "--", the command after it. */
        int dashdash = argc;
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "--") == 0) {
                        dashdash = i;
                        break;
                }
        while ((opt = getopt_long(dashdash, argv, CLI_COMMON_SHORTOPTS "t:", longopts, NULL)) != -1) {
                switch (opt) {
                case 't':
                        if (cli_parse_timeout(optarg, &timeout_ms) < 0)
                                return EXIT_USAGE;
                        break;
                default: {
                        int r = cli_common_option(cli, "run", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        char **paths = argv + optind;
        size_t n_paths = (size_t)(dashdash - optind);
        if (dashdash == argc)
                return cli_usage_error("run: missing '--' before the command");
        if (n_paths == 0)
                return cli_usage_error("run: no path given");
        char **cmd = argv + dashdash + 1;
        size_t n_cmd = (size_t)(argc - dashdash - 1);
        if (n_cmd == 0)
                return cli_usage_error("run: no command given after '--'");

        qz_client *c = cli_connect(cli);
        if (!c)
                return EXIT_RUN_FAILED;
        qz_hold *h;
        int r = qz_client_freeze(c, (const char *const *)paths, n_paths, timeout_ms, 0, &h);
        if (r < 0) {
                cli_client_error(c, r, paths[0]);
                qz_client_close(c);
                return EXIT_RUN_FAILED;
        }

        char *label = cli_join(paths, n_paths, ", ");
        char *cmdline = cli_join(cmd, n_cmd, " ");
        const char *thawed = n_paths > 1 ? "filesystems thawed" : "filesystem thawed";
        char dbuf[32];
        int ret = EXIT_RUN_FAILED;
        struct watch w = {.sigfd = -1};
        r = watch_signals(&w);
        if (r < 0) {
                cli_error("cannot set up signal handling: %s", strerror(-r));
                goto out;
        }
        r = watch_start(&w, c, h, timeout_ms);
        if (r < 0) {
                if (r == -EINVAL)
                        cli_error("%s: hold %" PRIu64 " ended before '%s' could start", label, h->id,
                                  cmdline);
                else
                        cli_client_error(c, r, label);
                goto out;
        }
        /* Its own process group, as timeout(1) does, so the deadline reaches
         * everything the command started; our stdio, cwd and signal mask. */
        qz_child_spec spec = {
                .argv = cmd, .exec_fd = -1, .cwd = ".", .inherit_stdio = true, .sigmask = &w.old_mask};
        int exec_errno;
        pid_t pid = qz_child_spawn(&spec, &exec_errno);
        if (pid < 0) {
                cli_error("cannot run '%s': %s", cmdline, strerror((int)-pid));
                goto out;
        }
        if (exec_errno) {
                cli_error("%s: %s", cmd[0], strerror(exec_errno));
                ret = exec_errno == ENOENT ? EXIT_RUN_NOT_FOUND : EXIT_RUN_CANNOT_EXEC;
                goto out;
        }
        w.child = pid;

        switch (watch_wait(&w)) {
        case WATCH_CHILD:
                r = qz_client_thaw_hold(c, h->id);
                if (r == -QZ_EBROKEN) {
                        cli_error("%s: '%s' finished, but the freeze did not hold throughout: %s", label,
                                  cmdline, qz_client_error(c));
                        ret = EXIT_RUN_BROKEN;
                } else if (r == -EINVAL) {
                        cli_error("%s: the freeze ended before '%s' finished (%s)", label, cmdline,
                                  qz_client_error(c));
                        ret = EXIT_RUN_DEADLINE;
                } else if (r < 0) {
                        cli_client_error(c, r, label);
                        ret = EXIT_RUN_FAILED;
                } else
                        ret = qz_child_exit_status(w.child_status);
                break;
        case WATCH_DEADLINE:
                (void)qz_client_thaw_hold(c, h->id); /* quiesced has thawed it at its deadline */
                watch_kill_child(&w);
                if (w.by_ceiling)
                        cli_error(
                                "%s: quiesced's max-frozen ceiling of %s passed while '%s' ran; %s, command "
                                "killed",
                                label, qz_format_duration(w.limit_ms, dbuf, sizeof(dbuf)), cmdline, thawed);
                else
                        cli_error("%s: deadline of %s passed while '%s' ran; %s, command killed", label,
                                  qz_format_duration(w.limit_ms, dbuf, sizeof(dbuf)), cmdline, thawed);
                ret = EXIT_RUN_DEADLINE;
                break;
        case WATCH_RELEASED:
                watch_kill_child(&w);
                cli_error("%s: hold %" PRIu64
                          " was released by a thaw from elsewhere while '%s' ran; command "
                          "killed",
                          label, h->id, cmdline);
                ret = EXIT_RUN_DEADLINE;
                break;
        case WATCH_LOST:
        case WATCH_SIGNAL:
                watch_kill_child(&w);
                cli_error("%s: lost the connection to quiesced while '%s' ran; the freeze is over, command "
                          "killed",
                          label, cmdline);
                ret = EXIT_RUN_FAILED;
                break;
        }
out:
        if (ret == EXIT_RUN_FAILED || ret == EXIT_RUN_NOT_FOUND || ret == EXIT_RUN_CANNOT_EXEC)
                (void)qz_client_thaw_hold(c, h->id); /* closing would release it too */
        watch_restore_signals(&w);
        free(label);
        free(cmdline);
        qz_hold_free(h);
        qz_client_close(c);
        return ret;
}
