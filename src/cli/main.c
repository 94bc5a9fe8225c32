/* SPDX-License-Identifier: GPL-2.0-or-later */
/* main.c - the quiesce command: global options (--socket, --help,
 * --version) and dispatch to one subcommand per file.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
        const char *name;
        int (*run)(struct cli *cli, int argc, char **argv);
} commands[] = {
        {"freeze", cmd_freeze}, {"thaw", cmd_thaw}, {"reset-timeout", cmd_reset_timeout},
        {"status", cmd_status}, {"run", cmd_run},   {"snapshot", cmd_snapshot},
        {"backup", cmd_backup}, {"job", cmd_job},   {"check", cmd_check},
        {"writer", cmd_writer},
};

int main(int argc, char **argv) {
        static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
        struct cli cli = {.socket = NULL};
        int opt;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
                int r = cli_common_option(&cli, NULL, opt, argv);
                if (r >= 0)
                        return r;
        }
        if (optind >= argc)
                return cli_usage_error("no command given");

        const char *name = argv[optind];
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(name, commands[i].name) == 0) {
                        int sub_argc = argc - optind;
                        char **sub_argv = argv + optind;
                        optind = 0; /* glibc: start afresh on the subcommand's arguments */
                        return commands[i].run(&cli, sub_argc, sub_argv);
                }
        return cli_usage_error("unknown command '%s'", name);
}
