/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backup.c - `quiesce backup`: from a snapshot (named, or made now), a
 * read-only private mount of each filesystem, then one archive (--to) or a
 * command per filesystem (--exec); every temporary object undone on every
 * exit path, Ctrl-C included; a report at the end (--json too).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"
#include "snapshot.h"

struct opts {
        const char *snapshot_name; /* --snapshot */
        const char *to;            /* --to */
        char **exec;               /* --exec CMD ARG... -- */
        size_t n_exec;
        const char *store;
        bool keep, json;
        /* options of the snapshot made now (PATH...) */
        const char *provider, *name, *job, *hooks_dir, *exec_cmd, *exec_delete, *lvm_size;
        int64_t timeout_ms, hook_timeout_ms, exec_timeout_ms;
        bool allow_crash, no_freeze;
        char **paths;
        size_t n_paths;
};

static void print_report(const struct opts *o, const struct bk_backup *b) {
        const qz_manifest *s = b->snapshot;
        const struct bk_fs_result *res = b->fs;
        uint64_t archive_bytes = b->archive_bytes;
        int64_t ms = b->duration_ms;
        bool made_now = b->made_now, deleted = b->deleted;
        uint64_t files = 0, bytes = 0, entries = 0;
        for (size_t i = 0; i < s->n_fs; i++) {
                files += res[i].counts.files;
                bytes += res[i].counts.bytes;
                entries += res[i].counts.entries;
        }
        uint64_t rate = ms > 0 ? bytes * 1000 / (uint64_t)ms : bytes;
        if (o->json) {
                json_object *j = json_object_new_object(), *snap = json_object_new_object(),
                            *fss = json_object_new_array();
                json_object_object_add(snap, "name", json_object_new_string(s->name));
                const char *lowered;
                qz_label label = qz_manifest_proven_label(s, &lowered);
                json_object_object_add(snap, "label", json_object_new_string(qz_label_name(label)));
                if (lowered) {
                        json_object_object_add(snap, "manifest_label",
                                               json_object_new_string(qz_label_name(s->label)));
                        json_object_object_add(snap, "label_reason", json_object_new_string(lowered));
                }
                json_object_object_add(snap, "provider", json_object_new_string(s->provider));
                if (s->created)
                        json_object_object_add(snap, "created", json_object_new_string(s->created));
                json_object_object_add(snap, "manifest", json_object_new_string(s->file ? s->file : ""));
                json_object_object_add(snap, "frozen_ms", json_object_new_int64(s->frozen_ms));
                json_object_object_add(snap, "made_now", json_object_new_boolean(made_now));
                json_object_object_add(snap, "deleted", json_object_new_boolean(deleted));
                json_object_object_add(j, "snapshot", snap);
                json_object_object_add(j, "mode", json_object_new_string(o->to ? "archive" : "exec"));
                if (o->to) {
                        json_object *a = json_object_new_object();
                        json_object_object_add(a, "path", json_object_new_string(o->to));
                        json_object_object_add(a, "compression",
                                               json_object_new_string(bk_archive_compression(o->to)));
                        json_object_object_add(a, "bytes", json_object_new_int64((int64_t)archive_bytes));
                        json_object_object_add(j, "archive", a);
                }
                for (size_t i = 0; i < s->n_fs; i++) {
                        json_object *f = json_object_new_object();
                        json_object_object_add(f, "mountpoint", json_object_new_string(s->fs[i].mountpoint));
                        json_object_object_add(f, "fstype", json_object_new_string(s->fs[i].fstype));
                        json_object_object_add(f, "snapshot", json_object_new_string(s->fs[i].snapshot));
                        json_object_object_add(f, "stall_ms", json_object_new_int64(s->fs[i].stall_ms));
                        json_object_object_add(f, "archive_dir", json_object_new_string(res[i].prefix));
                        json_object_object_add(f, "mount_options", json_object_new_string(res[i].m.options));
                        json_object_object_add(f, "journal_replay_skipped",
                                               json_object_new_boolean(res[i].m.journal_replay_skipped));
                        json_object_object_add(f, "journal",
                                               json_object_new_string(bk_journal_note(&s->fs[i], &res[i].m)));
                        if (o->to) {
                                json_object_object_add(f, "files",
                                                       json_object_new_int64((int64_t)res[i].counts.files));
                                json_object_object_add(f, "entries",
                                                       json_object_new_int64((int64_t)res[i].counts.entries));
                                json_object_object_add(f, "bytes",
                                                       json_object_new_int64((int64_t)res[i].counts.bytes));
                        } else {
                                json_object_object_add(f, "exit_status",
                                                       json_object_new_int(res[i].exit_status));
                        }
                        json_object_array_add(fss, f);
                }
                json_object_object_add(j, "filesystems", fss);
                if (o->to) {
                        json_object_object_add(j, "files", json_object_new_int64((int64_t)files));
                        json_object_object_add(j, "entries", json_object_new_int64((int64_t)entries));
                        json_object_object_add(j, "bytes", json_object_new_int64((int64_t)bytes));
                        json_object_object_add(j, "rate_bytes_per_s", json_object_new_int64((int64_t)rate));
                }
                json_object_object_add(j, "duration_ms", json_object_new_int64(ms));
                puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
                return;
        }
        char b1[32], b2[32], b3[32], d[32];
        const char *lowered;
        qz_label label = qz_manifest_proven_label(s, &lowered);
        printf("snapshot %s: %s, %s provider%s%s\n", s->name, qz_label_name(label), s->provider,
               s->created ? ", made " : "", s->created ? s->created : "");
        if (lowered)
                printf("  not %s as its manifest says: %s\n", qz_label_name(s->label), lowered);
        for (size_t i = 0; i < s->n_fs; i++) {
                const qz_snap_proof *p = &s->fs[i].proof;
                if (!p->known)
                        continue;
                if (p->held)
                        printf("  %s: frozen throughout, verified (probe %s at %s, %" PRId64
                               " sectors written on %s while frozen)\n",
                               s->fs[i].mountpoint, p->probe ? p->probe : "?",
                               qz_format_duration(p->probe_ms, d, sizeof(d)), p->sectors_written,
                               p->device ? p->device : "?");
                else
                        printf("  %s: NOT frozen throughout: %s\n", s->fs[i].mountpoint,
                               p->breach ? p->breach : "its freeze was lifted by another process");
        }
        if (s->frozen_ms >= 0) {
                printf("  frozen %s; stall", qz_format_duration(s->frozen_ms, d, sizeof(d)));
                for (size_t i = 0; i < s->n_fs; i++)
                        printf("%s %s %" PRId64 " ms", i ? "," : "", s->fs[i].mountpoint, s->fs[i].stall_ms);
                putchar('\n');
        }
        for (size_t i = 0; i < s->n_fs; i++) {
                if (o->to)
                        printf("  %-24s %-6s %8" PRIu64 " files %12s  -> %s/\n", s->fs[i].mountpoint,
                               s->fs[i].fstype, res[i].counts.files,
                               qz_format_bytes(res[i].counts.bytes, b1, sizeof(b1)), res[i].prefix);
                else
                        printf("  %-24s %-6s exit status %d\n", s->fs[i].mountpoint, s->fs[i].fstype,
                               res[i].exit_status);
                if (res[i].m.journal_replay_skipped)
                        printf("  %-24s %s (%s)\n", "", bk_journal_note(&s->fs[i], &res[i].m),
                               res[i].m.options);
        }
        if (o->to)
                printf("archive %s: %s (%s), %" PRIu64 " files, %s in %s (%s/s)\n", o->to,
                       qz_format_bytes(archive_bytes, b1, sizeof(b1)), bk_archive_compression(o->to), files,
                       qz_format_bytes(bytes, b2, sizeof(b2)), qz_format_duration(ms, d, sizeof(d)),
                       qz_format_bytes(rate, b3, sizeof(b3)));
        else
                printf("command ran on %zu filesystem%s in %s\n", s->n_fs, s->n_fs == 1 ? "" : "s",
                       qz_format_duration(ms, d, sizeof(d)));
        if (made_now)
                printf("snapshot %s %s\n", s->name, deleted ? "deleted" : "kept");
}

static void print_msg(void *userdata, const char *text) {
        cli_error("%s", text);
}

/* The options of the snapshot of PATH... made now. */
static void snapshot_opts(struct cli *cli, const struct opts *o, qz_snapshot_opts *so) {
        qz_snapshot_opts_init(so);
        so->paths = (const char *const *)o->paths;
        so->n_paths = o->n_paths;
        so->provider = o->provider;
        so->exec_cmd = o->exec_cmd;
        so->exec_delete = o->exec_delete;
        so->lvm_size = o->lvm_size;
        if (o->exec_timeout_ms)
                so->exec_timeout_ms = o->exec_timeout_ms;
        if (o->timeout_ms)
                so->timeout_ms = o->timeout_ms;
        so->name = o->name;
        so->job = o->job;
        so->hooks_dir = o->hooks_dir;
        if (o->hook_timeout_ms)
                so->hook_timeout_ms = o->hook_timeout_ms;
        so->store = o->store;
        so->socket = cli->socket;
        so->no_freeze = o->no_freeze;
        so->allow_crash_consistent = o->allow_crash;
}

static int usage_or_help(struct cli *cli, int opt, char **argv) {
        return cli_common_option(cli, "backup", opt, argv);
}

/* Options, with "--exec CMD ARG... --" taken out of argv first. */
static int parse(struct cli *cli, int argc, char **argv, struct opts *o) {
        enum {
                OPT_SNAPSHOT = 256,
                OPT_TO,
                OPT_KEEP,
                OPT_STORE,
                OPT_HOOK_TIMEOUT,
                OPT_EXEC_CMD,
                OPT_EXEC_DELETE,
                OPT_EXEC_TIMEOUT,
                OPT_LVM_SIZE,
                OPT_PROVIDER,
                OPT_NAME,
                OPT_HOOKS,
                OPT_ALLOW,
                OPT_NOFREEZE,
                OPT_JOB
        };
        static const struct option longopts[] = {
                {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
                {"to", required_argument, NULL, OPT_TO},
                {"keep-snapshot", no_argument, NULL, OPT_KEEP},
                {"store", required_argument, NULL, OPT_STORE},
                {"provider", required_argument, NULL, OPT_PROVIDER},
                {"name", required_argument, NULL, OPT_NAME},
                {"job", required_argument, NULL, OPT_JOB},
                {"hooks-dir", required_argument, NULL, OPT_HOOKS},
                {"allow-crash-consistent", no_argument, NULL, OPT_ALLOW},
                {"no-freeze", no_argument, NULL, OPT_NOFREEZE},
                {"hook-timeout", required_argument, NULL, OPT_HOOK_TIMEOUT},
                {"exec-cmd", required_argument, NULL, OPT_EXEC_CMD},
                {"exec-delete", required_argument, NULL, OPT_EXEC_DELETE},
                {"exec-timeout", required_argument, NULL, OPT_EXEC_TIMEOUT},
                {"lvm-size", required_argument, NULL, OPT_LVM_SIZE},
                {"timeout", required_argument, NULL, 't'},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        /* The options' strings and o->paths point into it until the command exits:
         * kept reachable from here so leak checkers do not count it. */
        static char **args;
        args = calloc((size_t)argc + 1, sizeof(char *));
        if (!args)
                abort();
        int n = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "--exec") == 0 && !o->exec) {
                        int j = i + 1;
                        while (j < argc && strcmp(argv[j], "--") != 0)
                                j++;
                        if (j == argc)
                                return cli_usage_error("backup: --exec COMMAND [ARG...] must end with '--'");
                        if (j == i + 1)
                                return cli_usage_error("backup: no command given after --exec");
                        o->exec = argv + i + 1;
                        o->n_exec = (size_t)(j - i - 1);
                        char *bad = bk_exec_unknown_placeholder(o->exec, o->n_exec);
                        if (bad) {
                                int r = cli_usage_error(
                                        "backup: --exec: unknown placeholder %s (known: " BK_EXEC_PLACEHOLDERS
                                        ")",
                                        bad);
                                free(bad);
                                return r;
                        }
                        i = j;
                        continue;
                }
                args[n++] = argv[i];
        }
        int opt;
        while ((opt = getopt_long(n, args, CLI_COMMON_SHORTOPTS "t:J", longopts, NULL)) != -1) {
                switch (opt) {
                case OPT_SNAPSHOT:
                        o->snapshot_name = optarg;
                        break;
                case OPT_TO:
                        o->to = optarg;
                        break;
                case OPT_KEEP:
                        o->keep = true;
                        break;
                case OPT_STORE:
                        o->store = optarg;
                        break;
                case OPT_PROVIDER:
                        o->provider = optarg;
                        break;
                case OPT_NAME:
                        o->name = optarg;
                        break;
                case OPT_JOB:
                        if (!qz_snapshot_name_valid(optarg))
                                return cli_usage_error("backup: invalid job name '%s' " QZ_SNAPSHOT_NAME_RULE,
                                                       optarg);
                        o->job = optarg;
                        break;
                case OPT_HOOKS:
                        o->hooks_dir = optarg;
                        break;
                case OPT_ALLOW:
                        o->allow_crash = true;
                        break;
                case OPT_NOFREEZE:
                        o->no_freeze = true;
                        break;
                case OPT_HOOK_TIMEOUT:
                        if (cli_parse_timeout(optarg, &o->hook_timeout_ms) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_EXEC_CMD:
                        o->exec_cmd = optarg;
                        break;
                case OPT_EXEC_DELETE:
                        o->exec_delete = optarg;
                        break;
                case OPT_EXEC_TIMEOUT:
                        if (cli_parse_timeout(optarg, &o->exec_timeout_ms) < 0)
                                return EXIT_USAGE;
                        break;
                case OPT_LVM_SIZE:
                        o->lvm_size = optarg;
                        break;
                case 't':
                        if (cli_parse_timeout(optarg, &o->timeout_ms) < 0)
                                return EXIT_USAGE;
                        break;
                case 'J':
                        o->json = true;
                        break;
                default: {
                        int r = usage_or_help(cli, opt, args);
                        if (r >= 0)
                                return r;
                }
                }
        }
        o->paths = args + optind;
        o->n_paths = (size_t)(n - optind);
        if (!o->to && !o->exec)
                return cli_usage_error(
                        "backup: say where to: --to FILE.tar[.gz|.zst] or --exec COMMAND ... --");
        if (o->to && o->exec)
                return cli_usage_error("backup: --to and --exec exclude each other");
        if (o->to && !bk_archive_compression(o->to))
                return cli_usage_error("backup: %s: the archive name must end in .tar, .tar.gz or .tar.zst",
                                       o->to);
        if (o->snapshot_name && o->n_paths)
                return cli_usage_error("backup: --snapshot NAME and PATHs exclude each other");
        if (!o->snapshot_name && !o->n_paths)
                return cli_usage_error(
                        "backup: no snapshot given: --snapshot NAME, or the PATHs to snapshot now");
        if (o->snapshot_name && (o->provider || o->name || o->job || o->hooks_dir || o->timeout_ms ||
                                 o->allow_crash || o->no_freeze || o->lvm_size))
                return cli_usage_error("backup: the snapshot options need PATHs, not --snapshot");
        if (o->snapshot_name && o->keep)
                return cli_usage_error("backup: --keep-snapshot: a named snapshot is never deleted");
        return -1;
}

int cmd_backup(struct cli *cli, int argc, char **argv) {
        struct opts o = {.timeout_ms = 0};
        int r = parse(cli, argc, argv, &o);
        if (r >= 0)
                return r;
        qz_snapshot_opts so;
        snapshot_opts(cli, &o, &so);
        struct bk_backup_opts bo = {.snapshot_name = o.snapshot_name,
                                    .snapshot = &so,
                                    .store = o.store,
                                    .to = o.to,
                                    .exec = o.exec,
                                    .n_exec = o.n_exec,
                                    .keep_snapshot = o.keep,
                                    .no_warnings = o.json,
                                    .exec_stdout_to_stderr = o.json,
                                    .progress = isatty(STDERR_FILENO),
                                    .msg = print_msg};
        struct bk_backup b;
        r = bk_backup_run(&bo, &b);
        int ret = EXIT_SUCCESS;
        if (r == 0)
                print_report(&o, &b);
        else
                ret = b.signal ? 128 + b.signal : EXIT_FAILURE;
        bk_backup_done(&b);
        return ret;
}
