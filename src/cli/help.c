/* SPDX-License-Identifier: GPL-2.0-or-later */
/* help.c - each subcommand's --help, util-linux style: its usage, what it
 * does, its options, then --help and --version; on stdout, exit 0. The
 * command's own --help (cli_help, output.c) lists every subcommand.
 */
#include <string.h>

#include "cli.h"
#include "job.h"
#include "snapshot.h"

/* What every subcommand's help ends with. */
#define SOCKET_OPTION                                                                                        \
        " -s, --socket PATH        quiesced's socket (default: $" QZ_SOCKET_ENV ",\n"                        \
        "                            else " QZ_DEFAULT_SOCKET ")\n"
#define HELP_VERSION                                                                                         \
        " -h, --help               display this help\n"                                                      \
        " -V, --version            display version\n"
#define SEE_ALSO "For more details see quiesce(8).\n"

/* The options of a snapshot, which quiesce backup PATH... takes too. */
#define SNAPSHOT_OPTIONS                                                                                     \
        " -p, --provider reflink|btrfs|exec|lvm\n"                                                           \
        "                          the snapshot provider for every path\n"                                   \
        "                            (default: chosen per filesystem)\n"                                     \
        "     --exec-cmd TEMPLATE  the exec provider's command ({device}, {mountpoint},\n"                   \
        "                            {fstype}, {name}, {id})\n"                                              \
        "     --exec-delete TEMPLATE\n"                                                                      \
        "                          the exec provider's delete command (also {location})\n"                   \
        "     --exec-timeout DURATION\n"                                                                     \
        "                          the exec provider's time limit\n"                                         \
        "     --lvm-size SIZE      the lvm snapshot's size (2G) or extents (50%ORIGIN;\n"                    \
        "                            default 20%ORIGIN)\n"                                                   \
        " -t, --timeout DURATION   the freeze's deadline (default 10s)\n"                                    \
        " -n, --name NAME          the snapshot's name (default: the UTC time)\n"                            \
        "     --job NAME           the job the snapshot belongs to (recorded in its\n"                       \
        "                            manifest; prune --job selects by it)\n"                                 \
        "     --hooks-dir DIR      the freeze and thaw hooks\n"                                              \
        "                            (default " QZ_DEFAULT_HOOKS_DIR ")\n"                                   \
        "     --hook-timeout DURATION\n"                                                                     \
        "                          each hook's time limit (default 10s)\n"

static void usage_freeze(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce freeze [options] PATH...\n"
              "\n"
              "Freeze the filesystems of PATHs as one hold and print its id. Without\n"
              "--detach the hold lasts until SIGINT, SIGTERM or SIGHUP, or its deadline.\n"
              "\n"
              "Options:\n"
              " -t, --timeout DURATION   deadline of the hold: 500ms, 10s, 2m, 1h, or none\n"
              "                            (default: none; with --detach 30s)\n"
              " -d, --detach             the hold outlives this command (thaw it later)\n"
              " -J, --json               print the hold as JSON\n" SOCKET_OPTION "\n" HELP_VERSION "\n"
              "Exit status: 0 success, 1 failure, 2 usage error, 3 the freeze did not hold\n"
              "throughout.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_thaw(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce thaw [options] PATH...\n"
              " quiesce thaw [options] --hold ID\n"
              "\n"
              "Release the caller's most recent hold on each path's filesystem, or one\n"
              "hold by id; the release of the last hold thaws the filesystem.\n"
              "\n"
              "Options:\n"
              "     --hold ID            release hold ID (all its filesystems)\n"
              " -J, --json               print the daemon's answer as JSON\n" SOCKET_OPTION "\n" HELP_VERSION
              "\n"
              "Exit status: 0 success, 1 failure, 2 usage error, 3 the freeze did not hold\n"
              "throughout.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_reset_timeout(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce reset-timeout [options] --timeout DURATION PATH...\n"
              " quiesce reset-timeout [options] --timeout DURATION --hold ID\n"
              "\n"
              "Re-arm a hold's deadline to DURATION from now: the caller's most recent hold\n"
              "on each path's filesystem, or one hold by id.\n"
              "\n"
              "Options:\n"
              " -t, --timeout DURATION   the new deadline: 500ms, 10s, 2m, 1h, or none\n"
              "                            (required)\n"
              "     --hold ID            re-arm hold ID\n"
              " -J, --json               print the re-armed holds as JSON\n" SOCKET_OPTION "\n" HELP_VERSION
              "\n"
              "Exit status: 0 success, 1 failure, 2 usage error, 3 the freeze did not hold\n"
              "throughout.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_status(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce status [options]\n"
              "\n"
              "Show the filesystems quiesced has frozen, their proof, holds and deadlines,\n"
              "and the registered writers with their filesystems and last phase.\n"
              "\n"
              "Options:\n"
              " -J, --json               print quiesced's Status answer as JSON\n" SOCKET_OPTION
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_run(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce run [options] PATH... -- COMMAND [ARG...]\n"
              "\n"
              "Freeze the filesystems of PATHs, run COMMAND (no shell), always thaw.\n"
              "\n"
              "Options:\n"
              " -t, --timeout DURATION   deadline of the hold (default 30s); when it passes\n"
              "                            the command is killed\n" SOCKET_OPTION "\n" HELP_VERSION "\n"
              "Exit status: the command's; 123 the freeze did not hold throughout, 124 the\n"
              "deadline passed, 125 quiesce failed, 126/127 command not executable/found,\n"
              "2 usage error.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_snapshot(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot [options] PATH...\n"
              " quiesce snapshot list [--store DIR] [--json]\n"
              " quiesce snapshot delete [--store DIR] NAME...\n"
              " quiesce snapshot prune [--job NAME] [--keep-last N] ... [--dry-run] [--json]\n"
              " quiesce snapshot pin [--reason TEXT] NAME\n"
              " quiesce snapshot unpin NAME\n"
              "\n"
              "Run the freeze hooks, freeze PATHs' filesystems, snapshot each, thaw, run the\n"
              "thaw hooks; then label the snapshot and write its manifest.\n"
              "\n"
              "Options:\n" SNAPSHOT_OPTIONS
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              "     --allow-crash-consistent\n"
              "                          accept a crash-consistent snapshot, and go on\n"
              "                            without the freeze when it fails\n"
              "     --no-freeze          snapshot without freezing (crash-consistent)\n"
              " -J, --json               print the manifest as JSON\n" SOCKET_OPTION "\n" HELP_VERSION "\n"
              "Exit status: 0 the snapshot is application- or filesystem-consistent (or\n"
              "crash-consistent with --allow-crash-consistent), 1 otherwise, 2 usage error.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_snapshot_list(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot list [options]\n"
              "\n"
              "List the snapshots in the store: whether each is still intact, the job it\n"
              "belongs to, and who pins it.\n"
              "\n"
              "Options:\n"
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              " -J, --json               print the manifests as JSON\n"
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_snapshot_delete(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot delete [options] NAME...\n"
              "\n"
              "Remove each snapshot's storage, then its manifest. A pinned snapshot (by a\n"
              "running backup's lease, or a lasting pin) is refused, naming who holds it;\n"
              "there is no --force: unpin a lasting pin first.\n"
              "\n"
              "Options:\n"
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_snapshot_prune(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot prune [options]\n"
              "\n"
              "Keep what a retention policy keeps (restic's forget --keep-*, in local time)\n"
              "and remove the rest through each provider's delete; print every snapshot's\n"
              "decision and why. Only application- and filesystem-consistent snapshots count;\n"
              "crash-consistent and broken ones never hold a slot and go first; pinned ones\n"
              "and ones still being taken are kept. Each job's snapshots are pruned on their\n"
              "own.\n"
              "\n"
              "Options:\n"
              "     --keep-last N        keep the N newest\n"
              "     --keep-hourly N      keep the newest of each of the last N hours\n"
              "     --keep-daily N       ... days\n"
              "     --keep-weekly N      ... ISO weeks (Monday to Sunday)\n"
              "     --keep-monthly N     ... months (N may be 'unlimited')\n"
              "     --job NAME           prune only the snapshots of job NAME; without --keep-*,\n"
              "                            with the [retention] of its job file (and its store);\n"
              "                            --keep-* given too override the file's policy\n"
              "     --jobs-dir DIR       the job files (default: $" QZ_JOBS_DIR_ENV ",\n"
              "                            else " QZ_DEFAULT_JOBS_DIR ")\n"
              "     --dry-run            decide and print, remove nothing\n"
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              "     --archives DIR       prune the archives of a backup target directory\n"
              "                            instead (known by their .manifest.json sidecars)\n"
              " -J, --json               print the decisions as JSON\n"
              "\n" HELP_VERSION "\n"
              "Exit status: 0 success, 1 a removal failed (or --job's file is missing, bad or\n"
              "has no [retention]), 2 usage error (no --keep-* option and no --job: prune\n"
              "never removes everything).\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_snapshot_pin(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot pin [options] NAME\n"
              "\n"
              "Pin a snapshot (STORE/NAME.pin: it survives reboots), so that delete and\n"
              "prune keep it, until 'quiesce snapshot unpin NAME'.\n"
              "\n"
              "Options:\n"
              "     --reason TEXT        why (pin; shown by list, delete and prune)\n"
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_snapshot_unpin(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce snapshot unpin [options] NAME\n"
              "\n"
              "Remove a snapshot's lasting pin (quiesce snapshot pin). A running backup's\n"
              "lease is not a lasting pin: it ends with its process.\n"
              "\n"
              "Options:\n"
              "     --store DIR          where the manifests are (default: $QUIESCE_STORE,\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_backup(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce backup [options] --snapshot NAME (--to FILE | --exec CMD [ARG...] --)\n"
              " quiesce backup [options] [snapshot options] PATH...\n"
              "                (--to FILE | --exec CMD [ARG...] --)\n"
              "\n"
              "Back up from a snapshot, named or made now (and then deleted), mounted\n"
              "read-only in private: into one tar archive, or through a command run once\n"
              "per filesystem.\n"
              "\n"
              "Options:\n"
              "     --snapshot NAME      back up the snapshot NAME of the store\n"
              "     --to FILE            write one archive: FILE.tar, .tar.gz or .tar.zst\n"
              "     --exec CMD [ARG...] --\n"
              "                          run CMD in each mounted snapshot ({path},\n"
              "                            {mountpoint}, {fstype}, {name}, {label})\n"
              "     --keep-snapshot      keep the snapshot made now\n"
              "     --store DIR          where the snapshots' manifests are (default:\n"
              "                            $QUIESCE_STORE, else " QZ_DEFAULT_STORE ")\n"
              " -J, --json               print the report as JSON\n" SOCKET_OPTION "\n"
              "Snapshot options (with PATHs, as quiesce snapshot):\n" SNAPSHOT_OPTIONS
              "     --allow-crash-consistent\n"
              "                          accept a crash-consistent snapshot, and go on\n"
              "                            without the freeze when it fails\n"
              "     --no-freeze          snapshot without freezing (crash-consistent)\n"
              "\n" HELP_VERSION "\n" SEE_ALSO,
              out);
}

static void usage_job(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce job list [--json]\n"
              " quiesce job show NAME [--json]\n"
              " quiesce job run NAME [--dry-run] [--wait] [--json]\n"
              "\n"
              "The backup jobs of " QZ_DEFAULT_JOBS_DIR ", one NAME.conf each (quiesce-job(5)):\n"
              "list them, show one with every setting, or run one: its snapshot, its\n"
              "backup, retention, then its state, metrics and journal entry. One run of a\n"
              "job at a time: a second one refuses, or waits with --wait. A run refuses\n"
              "to start when one of the job's writers is not registered with quiesced;\n"
              "show and --dry-run say whether each is.\n"
              "\n"
              "Options:\n"
              "     --jobs-dir DIR       the job files (default: $" QZ_JOBS_DIR_ENV ",\n"
              "                            else " QZ_DEFAULT_JOBS_DIR ")\n"
              "     --dry-run            run: say what it would do; freeze and write nothing\n"
              "     --wait               run: wait for a run of the job in progress\n"
              " -J, --json               print the jobs or the report as JSON\n" SOCKET_OPTION
              "\n" HELP_VERSION "\n"
              "Exit status: 0 success, 1 failure (a bad job file, a run that failed or\n"
              "was refused), 2 usage error.\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_check(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce check [--job NAME | --store DIR] --warn AGE --crit AGE [--json]\n"
              "\n"
              "A monitoring plugin (Nagios convention): one status line with perfdata,\n"
              "judged on the age of the newest consistent snapshot or backup (of the job,\n"
              "or in the store). Crash-consistent and incomplete snapshots do not count.\n"
              "\n"
              "Options:\n"
              "     --job NAME           a job of the jobs directory (its store and state)\n"
              "     --store DIR          the store (default: the job's, $" QZ_STORE_ENV ",\n"
              "                            else " QZ_DEFAULT_STORE ")\n"
              " -w, --warn AGE           WARNING from this age on (90m, 26h, 2d, 3600s)\n"
              " -c, --crit AGE           CRITICAL from this age on\n"
              "     --jobs-dir DIR       the job files (default: " QZ_DEFAULT_JOBS_DIR ")\n"
              " -J, --json               print the verdict as JSON\n"
              "\n" HELP_VERSION "\n"
              "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no such job, an\n"
              "unreadable store, a usage error).\n"
              "\n" SEE_ALSO,
              out);
}

static void usage_writer(FILE *out) {
        fputs("\n"
              "Usage:\n"
              " quiesce writer [options] PATH...\n"
              "\n"
              "Take part in every freeze of the filesystems of PATHs, whoever asks for it:\n"
              "prepare (may veto), freeze (just before FIFREEZE), thaw, abort. Each phase\n"
              "asks the --session helper, then runs its command; exit status 0 is ok, any\n"
              "other a veto (prepare) or a failure, with the first line of stderr as the\n"
              "reason. Runs until SIGINT, SIGTERM or SIGHUP; re-registers when quiesced\n"
              "restarts.\n"
              "\n"
              "Options:\n"
              " -n, --name NAME          the writer's name in reports (default quiesce-writer)\n"
              "     --prepare CMD        run at prepare (a template, no shell: {phase}, {name},\n"
              "                            {freeze}, {paths})\n"
              "     --freeze CMD         run at freeze, just before FIFREEZE\n"
              "     --thaw CMD           run at thaw (also when quiesced goes away)\n"
              "     --abort CMD          run at abort (prepared, but not frozen)\n"
              "     --session CMD        a long-lived helper: it prints 'ready', then reads\n"
              "                            one phase per line on stdin and answers each on\n"
              "                            stdout: 'ok [DETAIL]', 'veto REASON', 'fail REASON'\n"
              " -r, --required           a freeze fails unless this writer agrees (root only)\n"
              " -t, --timeout DURATION   prepare's time limit (default 30s)\n"
              "     --freeze-timeout DURATION\n"
              "                          freeze's time limit (default 2s)\n"
              "     --thaw-timeout DURATION\n"
              "                          thaw's and abort's time limit (default 10s)\n"
              " -J, --json               print each phase's answer as a JSON line\n" SOCKET_OPTION
              "\n" HELP_VERSION "\n"
              "Exit status: 0 stopped by a signal, 1 failure, 2 usage error.\n"
              "\n" SEE_ALSO,
              out);
}

static const struct {
        const char *cmd;
        void (*usage)(FILE *out);
} usages[] = {
        {"freeze", usage_freeze},
        {"thaw", usage_thaw},
        {"reset-timeout", usage_reset_timeout},
        {"status", usage_status},
        {"run", usage_run},
        {"snapshot", usage_snapshot},
        {"snapshot list", usage_snapshot_list},
        {"snapshot delete", usage_snapshot_delete},
        {"snapshot prune", usage_snapshot_prune},
        {"snapshot pin", usage_snapshot_pin},
        {"snapshot unpin", usage_snapshot_unpin},
        {"backup", usage_backup},
        {"job", usage_job},
        {"check", usage_check},
        {"writer", usage_writer},
};

void cli_command_help(const char *cmd, FILE *out) {
        for (size_t i = 0; cmd && i < sizeof(usages) / sizeof(usages[0]); i++)
                if (strcmp(cmd, usages[i].cmd) == 0) {
                        usages[i].usage(out);
                        return;
                }
        cli_help(out);
}
