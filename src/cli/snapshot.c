/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapshot.c - `quiesce snapshot [options] PATH...` and `quiesce snapshot
 * delete NAME`: options, the report a person reads, exit codes; list is in
 * snapshot_list.c, prune, pin and unpin in snapshot_prune.c. The work itself
 * is done by src/snapshot (qzsnapshot).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "cli.h"
#include "jsonutil.h"
#include "snapshot.h"

enum {
        OPT_EXEC_CMD = 0x100,
        OPT_EXEC_DELETE,
        OPT_EXEC_TIMEOUT,
        OPT_HOOKS_DIR,
        OPT_HOOK_TIMEOUT,
        OPT_STORE,
        OPT_ALLOW_CRASH,
        OPT_NO_FREEZE,
        OPT_LVM_SIZE,
        OPT_JOB,
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        interrupted = sig;
}

static void print_msg(void *userdata, const char *text) {
        cli_error("%s", text);
}

/* "  proof      frozen throughout: verified (probe EBUSY at 1.53s, 0 sectors
 * written on loop1 while frozen)", or what broke it. */
static void print_proof(const qz_snap_fs *f) {
        const qz_snap_proof *p = &f->proof;
        char b[32], counter[160];
        if (p->known && p->sectors_written >= 0 && p->device)
                snprintf(counter, sizeof(counter), "%" PRId64 " sector%s written on %s while frozen",
                         p->sectors_written, p->sectors_written == 1 ? "" : "s", p->device);
        else
                snprintf(counter, sizeof(counter), "no write counter for this filesystem");
        if (f->frozen_throughout && p->known && p->held)
                printf("  proof      frozen throughout: verified (probe %s at %s, %s)\n",
                       p->probe ? p->probe : "?",
                       p->probe_ms >= 0 ? qz_format_duration(p->probe_ms, b, sizeof(b)) : "?", counter);
        else if (p->known && !p->held)
                printf("  proof      NOT frozen throughout: %s\n",
                       p->breach ? p->breach : "its freeze was lifted by another process");
        else
                printf("  proof      NOT frozen throughout: it was no longer in the hold when its snapshot "
                       "ended\n");
}

static void print_indented(const char *text) {
        const char *p = text;
        while (p && *p) {
                size_t n = strcspn(p, "\n");
                printf("      | %.*s\n", (int)n, p);
                p += n;
                if (*p == '\n')
                        p++;
        }
}

static void print_report(const qz_manifest *m, const char *hooks_dir) {
        char b1[32], b2[32], sz[32];
        bool labelled = m->label_reason != NULL; /* the providers ran */
        if (labelled)
                printf("Snapshot %s: %s\n  %s\n", m->name, qz_label_name(m->label), m->label_reason);
        else
                printf("Snapshot %s: not taken\n", m->name);
        if (m->job)
                printf("  job %s\n", m->job);
        for (size_t i = 0; i < m->n_fs; i++) {
                const qz_snap_fs *f = &m->fs[i];
                printf("\n%s: %s %s on %s (mounted on %s)\n", f->path, f->fstype, f->id, f->source,
                       f->mountpoint);
                if (strcmp(f->provider, "reflink") == 0)
                        printf("  provider   reflink of %s\n", f->backing_file ? f->backing_file : "?");
                else if (strcmp(f->provider, "btrfs") == 0)
                        printf("  provider   btrfs: atomic snapshot, not frozen (subvolume %s)\n",
                               f->subvolume ? f->subvolume : "?");
                else if (strcmp(f->provider, "lvm") == 0)
                        printf("  provider   lvm: snapshot %s of %s, %s\n",
                               f->lvm_snapshot ? f->lvm_snapshot : "?", f->lvm_origin ? f->lvm_origin : "?",
                               f->frozen ? "frozen by quiesce"
                                         : "frozen by lvcreate's device-mapper suspend");
                else
                        printf("  provider   %s\n", f->provider);
                if (f->frozen) {
                        printf("  freeze     stall %s, frozen %s\n",
                               f->stall_ms >= 0 ? qz_format_duration(f->stall_ms, b1, sizeof(b1)) : "?",
                               f->frozen_ms >= 0 ? qz_format_duration(f->frozen_ms, b2, sizeof(b2)) : "?");
                        print_proof(f);
                } else if (strcmp(f->provider, "btrfs") != 0 && strcmp(f->provider, "lvm") != 0)
                        printf("  freeze     not frozen%s\n", m->no_freeze ? " (--no-freeze)" : "");
                if (f->snapshot) {
                        const char *what = strcmp(f->provider, "btrfs") == 0 ? " used on the filesystem" : "";
                        if (f->size_bytes >= 0)
                                printf("  snapshot   %s (%s%s)\n", f->snapshot,
                                       qz_format_bytes((uint64_t)f->size_bytes, sz, sizeof(sz)), what);
                        else
                                printf("  snapshot   %s\n", f->snapshot);
                }
                if (f->error)
                        printf("  FAILED     %s\n", f->error);
                if (f->output && *f->output) {
                        printf("  output\n");
                        print_indented(f->output);
                }
        }
        if (m->n_writers) {
                static const char *const phases[] = {"prepare", "freeze", "thaw", "abort"};
                printf("\nWriters:\n");
                for (size_t i = 0; i < m->n_writers; i++) {
                        const qz_snap_writer *w = &m->writers[i];
                        printf("  %-20s %s%s (%s)\n", w->name,
                               w->refused        ? "REFUSED the freeze"
                               : w->acknowledged ? "acknowledged"
                                                 : "NOT acknowledged",
                               w->required ? ", required" : "", w->filesystems ? w->filesystems : "");
                        for (unsigned p = 0; p < 2; p++) /* thaw comes after the snapshot */
                                if (w->phase[p].asked) {
                                        const qz_snap_writer_phase *ph = &w->phase[p];
                                        printf("      %-8s %s", phases[p],
                                               ph->timed_out ? "no answer (timed out)" : ph->answer);
                                        if (ph->ms >= 0 && !ph->timed_out)
                                                printf(" after %s",
                                                       qz_format_duration(ph->ms, b1, sizeof(b1)));
                                        printf("%s%s\n", ph->detail ? ": " : "",
                                               ph->detail ? ph->detail : "");
                                }
                        if (w->reason)
                                printf("      reason   %s\n", w->reason);
                }
        }
        if (m->n_hooks) {
                printf("\nHooks (%s):\n", hooks_dir);
                for (size_t i = 0; i < m->n_hooks; i++) {
                        const qz_snap_hook *h = &m->hooks[i];
                        char res[160];
                        if (h->refused)
                                snprintf(res, sizeof(res), "refused: %s", h->refused);
                        else if (h->timed_out)
                                snprintf(res, sizeof(res), "timed out, killed%s%s",
                                         h->signal ? " by SIG" : "",
                                         h->signal ? sigabbrev_np(h->signal) : "");
                        else if (h->signal)
                                snprintf(res, sizeof(res), "killed by SIG%s", sigabbrev_np(h->signal));
                        else
                                snprintf(res, sizeof(res), "exit %d", h->exit_status);
                        printf("  %-20s %-6s %8s  %s\n", h->name, h->phase,
                               h->refused ? "-" : qz_format_duration(h->duration_ms, b1, sizeof(b1)), res);
                        if (h->output && *h->output)
                                print_indented(h->output);
                        if (h->output_truncated)
                                printf("      | (output truncated)\n");
                }
        }
        if (m->n_notes) {
                printf("\nNotes:\n");
                for (size_t i = 0; i < m->n_notes; i++)
                        printf("  %s\n", m->notes[i]);
        }
        if (labelled)
                printf("\nLabel: %s\n", qz_label_name(m->label));
        else
                printf("\n");
        if (m->hold >= 0)
                printf("Total %s, frozen %s (hold %" PRId64 ")\n",
                       qz_format_duration(m->duration_ms, b1, sizeof(b1)),
                       qz_format_duration(m->frozen_ms, b2, sizeof(b2)), m->hold);
        else
                printf("Total %s, nothing frozen\n", qz_format_duration(m->duration_ms, b1, sizeof(b1)));
        if (m->file)
                printf("Manifest: %s\n", m->file);
}

static int snapshot_delete(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"store", required_argument, NULL, OPT_STORE},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        const char *store_opt = NULL;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_STORE:
                        store_opt = optarg;
                        break;
                default: {
                        int r = cli_common_option(cli, "snapshot delete", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("snapshot delete: no snapshot name given");
        int ret = EXIT_SUCCESS;
        for (int i = optind; i < argc; i++)
                if (qz_snapshot_delete(store_opt, argv[i], print_msg, NULL) < 0)
                        ret = EXIT_FAILURE;
        return ret;
}

int cmd_snapshot(struct cli *cli, int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "list") == 0)
                return cli_snapshot_list(cli, argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "delete") == 0)
                return snapshot_delete(cli, argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "prune") == 0)
                return cli_snapshot_prune(cli, argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "pin") == 0)
                return cli_snapshot_pin(cli, argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "unpin") == 0)
                return cli_snapshot_unpin(cli, argc - 1, argv + 1);

        static const struct option longopts[] = {
                {"provider", required_argument, NULL, 'p'},
                {"exec-cmd", required_argument, NULL, OPT_EXEC_CMD},
                {"exec-delete", required_argument, NULL, OPT_EXEC_DELETE},
                {"exec-timeout", required_argument, NULL, OPT_EXEC_TIMEOUT},
                {"lvm-size", required_argument, NULL, OPT_LVM_SIZE},
                {"timeout", required_argument, NULL, 't'},
                {"name", required_argument, NULL, 'n'},
                {"job", required_argument, NULL, OPT_JOB},
                {"hooks-dir", required_argument, NULL, OPT_HOOKS_DIR},
                {"hook-timeout", required_argument, NULL, OPT_HOOK_TIMEOUT},
                {"store", required_argument, NULL, OPT_STORE},
                {"allow-crash-consistent", no_argument, NULL, OPT_ALLOW_CRASH},
                {"no-freeze", no_argument, NULL, OPT_NO_FREEZE},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        qz_snapshot_opts o;
        qz_snapshot_opts_init(&o);
        bool json = false;
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "p:t:n:J", longopts, NULL)) != -1) {
                switch (opt) {
                case 'p':
                        if (strcmp(optarg, "reflink") && strcmp(optarg, "btrfs") && strcmp(optarg, "exec") &&
                            strcmp(optarg, "lvm") && strcmp(optarg, "auto"))
                                return cli_usage_error(
                                        "snapshot: unknown provider '%s' (reflink, btrfs, exec, lvm)",
                                        optarg);
                        o.provider = optarg;
                        break;
                case OPT_EXEC_CMD:
                        o.exec_cmd = optarg;
                        break;
                case OPT_EXEC_DELETE:
                        o.exec_delete = optarg;
                        break;
                case OPT_EXEC_TIMEOUT:
                        if (cli_parse_timeout(optarg, &o.exec_timeout_ms) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_LVM_SIZE:
                        o.lvm_size = optarg;
                        break;
                case 't':
                        if (cli_parse_timeout(optarg, &o.timeout_ms) < 0)
                                return EXIT_USAGE;
                        if (o.timeout_ms < 0)
                                return cli_usage_error("snapshot: --timeout must be finite");
                        break;
                case 'n':
                        if (!qz_snapshot_name_valid(optarg))
                                return cli_usage_error("snapshot: invalid name '%s' " QZ_SNAPSHOT_NAME_RULE,
                                                       optarg);
                        o.name = optarg;
                        break;
                case OPT_JOB:
                        if (!qz_snapshot_name_valid(optarg))
                                return cli_usage_error(
                                        "snapshot: invalid job name '%s' " QZ_SNAPSHOT_NAME_RULE, optarg);
                        o.job = optarg;
                        break;
                case OPT_HOOKS_DIR:
                        o.hooks_dir = optarg;
                        break;
                case OPT_HOOK_TIMEOUT:
                        if (cli_parse_timeout(optarg, &o.hook_timeout_ms) < 0)
                                return EXIT_USAGE;
                        if (o.hook_timeout_ms < 0)
                                return cli_usage_error("snapshot: --hook-timeout must be finite");
                        break;
                case OPT_STORE:
                        o.store = optarg;
                        break;
                case OPT_ALLOW_CRASH:
                        o.allow_crash_consistent = true;
                        break;
                case OPT_NO_FREEZE:
                        o.no_freeze = true;
                        break;
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "snapshot", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind >= argc)
                return cli_usage_error("snapshot: no path given");
        if (o.provider && strcmp(o.provider, "exec") == 0 && !o.exec_cmd)
                return cli_usage_error("snapshot: --provider exec needs --exec-cmd TEMPLATE");
        if (o.exec_cmd && o.provider && strcmp(o.provider, "exec") != 0)
                return cli_usage_error("snapshot: --exec-cmd is for --provider exec");
        if (o.lvm_size && (!o.provider || strcmp(o.provider, "lvm") != 0))
                return cli_usage_error("snapshot: --lvm-size is for --provider lvm");
        o.paths = (const char *const *)(argv + optind);
        o.n_paths = (size_t)(argc - optind);
        o.socket = cli->socket;
        o.interrupted = &interrupted;
        o.msg = print_msg;

        struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sigaction(SIGHUP, &sa, &old_hup);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_DFL);

        qz_manifest *m = NULL;
        int r = qz_snapshot_take(&o, &m);

        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);

        bool show = m && (r == 0 || m->n_hooks > 0 || m->n_fs > 0);
        if (show && json) {
                char *t = qz_manifest_to_json(m);
                puts(t);
                free(t);
        } else if (show)
                print_report(m, o.hooks_dir ? o.hooks_dir : QZ_DEFAULT_HOOKS_DIR);
        fflush(stdout);

        int ret = EXIT_SUCCESS;
        if (r < 0)
                ret = EXIT_FAILURE;
        else if (qz_manifest_incomplete(m)) {
                cli_error("snapshot %s is incomplete: a provider failed (the manifest is kept for 'quiesce "
                          "snapshot "
                          "delete %s')",
                          m->name, m->name);
                ret = EXIT_FAILURE;
        } else if (m->label == QZ_LABEL_CRASH && !o.allow_crash_consistent) {
                cli_error("snapshot %s is crash-consistent (%s); it is kept, but without "
                          "--allow-crash-consistent "
                          "that is a failure",
                          m->name, m->label_reason);
                ret = EXIT_FAILURE;
        }
        if (interrupted && ret == EXIT_SUCCESS)
                ret = EXIT_FAILURE;
        qz_manifest_free(m);
        return ret;
}
