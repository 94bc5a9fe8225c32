/* SPDX-License-Identifier: GPL-2.0-or-later */
/* output.c - the quiesce command's shared manners: help and version text,
 * "quiesce: PATH: reason" errors, usage errors (exit 2), option and duration
 * parsing, duration formatting, pretty JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "template.h"

void cli_help(FILE *out) {
        fputs("\nUsage:\n"
              " quiesce [--socket PATH] COMMAND [options] [ARG...]\n"
              "\n"
              "Freeze filesystems through quiesced: nested, time-limited, always thawed.\n"
              "\n"
              "Commands:\n"
              " freeze [--timeout DURATION|none] [--detach] [--json] PATH...\n"
              "                          freeze the filesystems of PATHs as one hold and print\n"
              "                            its id; without --detach, hold it until a signal\n"
              " thaw [--json] PATH...    release the caller's most recent hold on each filesystem\n"
              " thaw --hold ID           release one hold\n"
              " reset-timeout --timeout DURATION (PATH...|--hold ID)\n"
              "                          re-arm a hold's deadline\n"
              " status [--json]          show frozen filesystems, holds and deadlines\n"
              " run [--timeout DURATION] PATH... -- COMMAND [ARG...]\n"
              "                          freeze, run COMMAND, always thaw\n"
              " snapshot [--provider reflink|btrfs|exec|lvm] [--exec-cmd TEMPLATE] [--name NAME]\n"
              "          [--timeout DURATION] [--hooks-dir DIR] [--hook-timeout DURATION]\n"
              "          [--store DIR] [--allow-crash-consistent] [--no-freeze] [--json] PATH...\n"
              "                          hooks, freeze, snapshot, thaw; label and manifest\n"
              " snapshot list [--json]   list the snapshots in the store\n"
              " snapshot delete NAME...  remove a snapshot and its manifest\n"
              " snapshot prune [--job NAME] --keep-last|hourly|daily|weekly|monthly N...\n"
              "                [--dry-run] [--json]\n"
              "                          keep what the retention policy keeps, remove the rest\n"
              " snapshot pin|unpin NAME  a lasting pin: delete and prune keep the snapshot\n"
              " backup (--snapshot NAME | [snapshot options] PATH...)\n"
              "        (--to FILE.tar[.gz|.zst] | --exec CMD [ARG...] --) [--keep-snapshot] [--json]\n"
              "                          back up from a snapshot (named, or made now and then\n"
              "                            deleted), mounted read-only in private\n"
              " job list|show NAME|run NAME [--dry-run] [--wait] [--json]\n"
              "                          the backup jobs of /etc/quiesce/jobs.d\n"
              " check [--job NAME] --warn AGE --crit AGE\n"
              "                          monitoring plugin: the newest consistent snapshot's age\n"
              " writer [--name NAME] [--prepare CMD] [--freeze CMD] [--thaw CMD] [--session CMD]\n"
              "        [--required] [--timeout DURATION] PATH...\n"
              "                          take part in every freeze of PATHs' filesystems\n"
              "\n"
              "Options:\n"
              " -s, --socket PATH        quiesced's socket (default: $" QZ_SOCKET_ENV ",\n"
              "                            else " QZ_DEFAULT_SOCKET ")\n"
              " -t, --timeout DURATION   deadline of the hold: 500ms, 10s, 2m, 1h, or none\n"
              "                            (freeze --detach: 30s by default; run: 30s)\n"
              " -d, --detach             the hold outlives this command (freeze)\n"
              "     --hold ID            act on hold ID (thaw, reset-timeout)\n"
              " -J, --json               print the daemon's answer as JSON\n"
              "\n"
              " -h, --help               display this help\n"
              " -V, --version            display version\n"
              "\n"
              "Exit status: 0 success, 1 failure, 2 usage error; run: the command's status,\n"
              "124 deadline passed, 125 quiesce failed, 126/127 command not executable/found.\n"
              "\n"
              "'quiesce COMMAND --help' shows a command's own usage and options.\n"
              "\n"
              "For more details see quiesce(8).\n",
              out);
}

void cli_version(void) {
        printf("quiesce from quiesce %s\n", QZ_VERSION_STRING);
}

void cli_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("quiesce: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

int cli_usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("quiesce: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        fputs("Try 'quiesce --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

void cli_client_error(qz_client *c, int r, const char *what) {
        const char *msg = qz_client_error(c);
        if (msg && *msg)
                cli_error("%s", msg);
        else if (what)
                cli_error("%s: %s", what, strerror(-r));
        else
                cli_error("%s", strerror(-r));
}

qz_client *cli_connect(struct cli *cli) {
        qz_client *c;
        int r = qz_client_open(cli->socket, &c);
        if (r < 0) {
                cli_client_error(NULL, r, NULL);
                return NULL;
        }
        return c;
}

int cli_common_option(struct cli *cli, const char *cmd, int opt, char **argv) {
        const char *pre = cmd ? cmd : "", *colon = cmd ? ": " : "";
        switch (opt) {
        case 's':
                cli->socket = optarg;
                return -1;
        case 'h':
                cli_command_help(cmd, stdout);
                return EXIT_SUCCESS;
        case 'V':
                cli_version();
                return EXIT_SUCCESS;
        case ':':
                return cli_usage_error("%s%soption '%s' requires an argument", pre, colon, argv[optind - 1]);
        case '?':
                if (optopt)
                        return cli_usage_error("%s%sinvalid option -- '%c'", pre, colon, optopt);
                return cli_usage_error("%s%sunrecognized option '%s'", pre, colon, argv[optind - 1]);
        default:
                return cli_usage_error("%s%sunexpected option", pre, colon);
        }
}

int cli_parse_timeout(const char *text, int64_t *ret_ms) {
        int r = qz_parse_duration(text, ret_ms);
        if (r == 0 && *ret_ms == 0)
                r = -EINVAL;
        if (r < 0) {
                cli_usage_error("invalid duration '%s' (examples: 500ms, 10s, 2m, none)", text);
                return -1;
        }
        return 0;
}

int cli_parse_hold_id(const char *text, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (!*text || *text == '-' || *text == '+' || *end || errno) {
                cli_usage_error("invalid hold id '%s'", text);
                return -1;
        }
        *ret = v;
        return 0;
}

char *cli_join(char *const *v, size_t n, const char *sep) {
        return qz_strv_join(v, n, sep);
}

int cli_print_json(const char *text, const char *key) {
        json_object *o = text ? json_tokener_parse(text) : NULL;
        json_object *v = o;
        if (o && key && !json_object_object_get_ex(o, key, &v))
                v = NULL;
        if (!v) {
                json_object_put(o);
                cli_error("quiesced's reply is not the expected JSON");
                return -EBADMSG;
        }
        puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
}
