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
#include "child.h"
#include "cli.h"
#include "snapshot.h"

struct fs_result {
        struct bk_mount m;
        char *prefix; /* the top-level directory in the archive */
        struct bk_counts counts;
        int exit_status; /* --exec: the command's, -1 not run */
        bool mounted_once;
};

struct opts {
        const char *snapshot_name; /* --snapshot */
        const char *to;            /* --to */
        char **exec;               /* --exec CMD ARG... -- */
        size_t n_exec;
        const char *store;
        bool keep, json;
        /* options of the snapshot made now (PATH...) */
        const char *provider, *name, *hooks_dir, *exec_cmd, *exec_delete, *lvm_size;
        int64_t timeout_ms, hook_timeout_ms, exec_timeout_ms;
        bool allow_crash, no_freeze;
        char **paths;
        size_t n_paths;
};

/* "srv/data" for /srv/data; "rootfs" for / */
static char *archive_prefix(const char *mountpoint) {
        while (*mountpoint == '/')
                mountpoint++;
        char *p = strdup(*mountpoint ? mountpoint : "rootfs");
        if (!p)
                abort();
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
                p[--n] = '\0';
        return p;
}

/* A frozen XFS has every metadata change written in place and its log
 * covered, but not marked clean (that needs an unmount): the read-only
 * device refuses the log recovery, so the mount uses norecovery, and there
 * is nothing to replay. Anywhere else a skipped replay means the snapshot
 * was not taken from a frozen filesystem (ext4's freeze clears its
 * needs_recovery flag). */
static bool replay_expected(const qz_snap_fs *f, const struct bk_mount *m) {
        return m->journal_replay_skipped && strcmp(f->fstype, "xfs") == 0 && f->frozen_throughout;
}

static const char *journal_note(const qz_snap_fs *f, const struct bk_mount *m) {
        if (!m->journal_replay_skipped)
                return "clean";
        if (replay_expected(f, m))
                return "XFS log covered by the freeze but not marked clean: mounted norecovery, nothing to "
                       "replay";
        return "the journal needed recovery: mounted without replaying it";
}

static void print_report(const struct opts *o, const qz_manifest *s, struct fs_result *res,
                         uint64_t archive_bytes, int64_t ms, bool made_now, bool deleted) {
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
                                               json_object_new_string(journal_note(&s->fs[i], &res[i].m)));
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
                        printf("  %-24s %s (%s)\n", "", journal_note(&s->fs[i], &res[i].m), res[i].m.options);
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

/* The snapshot of PATH...: made now through the snapshot library. 0: usable
 * (*ret); -1: failed (said why; a snapshot made but unusable is deleted
 * again unless --keep-snapshot). */
static int make_snapshot(struct cli *cli, const struct opts *o, qz_manifest **ret) {
        qz_snapshot_opts so;
        qz_snapshot_opts_init(&so);
        so.paths = (const char *const *)o->paths;
        so.n_paths = o->n_paths;
        so.provider = o->provider;
        so.exec_cmd = o->exec_cmd;
        so.exec_delete = o->exec_delete;
        so.lvm_size = o->lvm_size;
        if (o->exec_timeout_ms)
                so.exec_timeout_ms = o->exec_timeout_ms;
        if (o->timeout_ms)
                so.timeout_ms = o->timeout_ms;
        so.name = o->name;
        so.hooks_dir = o->hooks_dir;
        if (o->hook_timeout_ms)
                so.hook_timeout_ms = o->hook_timeout_ms;
        so.store = o->store;
        so.socket = cli->socket;
        so.no_freeze = o->no_freeze;
        so.allow_crash_consistent = o->allow_crash;
        so.interrupted = bk_interrupt_flag();
        so.msg = print_msg;
        qz_manifest *m = NULL;
        int r = qz_snapshot_take(&so, &m);
        if (r < 0) {
                qz_manifest_free(m);
                return -1;
        }
        const char *why = NULL;
        if (qz_manifest_incomplete(m))
                why = "is incomplete: a provider failed";
        else if (qz_manifest_proven_label(m, NULL) == QZ_LABEL_CRASH && !o->allow_crash)
                why = "is crash-consistent (use --allow-crash-consistent to back it up anyway)";
        else if (bk_interrupted())
                why = "was made, but the backup was interrupted";
        if (!why) {
                *ret = m;
                return 0;
        }
        cli_error("backup: snapshot %s %s%s%s", m->name, why, m->label_reason ? ": " : "",
                  m->label_reason && !bk_interrupted() ? m->label_reason : "");
        if (!o->keep) {
                char *store = qz_store_dir(o->store);
                if (qz_snapshot_delete(store, m->name, print_msg, NULL) == 0)
                        cli_error("backup: snapshot %s deleted", m->name);
                free(store);
        } else
                cli_error("backup: snapshot %s kept (--keep-snapshot)", m->name);
        qz_manifest_free(m);
        return -1;
}

static int delete_snapshot(const struct opts *o, const qz_manifest *s) {
        char *store = qz_store_dir(o->store);
        int r = qz_snapshot_delete(store, s->name, print_msg, NULL);
        free(store);
        return r;
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
                OPT_NOFREEZE
        };
        static const struct option longopts[] = {
                {"snapshot", required_argument, NULL, OPT_SNAPSHOT},
                {"to", required_argument, NULL, OPT_TO},
                {"keep-snapshot", no_argument, NULL, OPT_KEEP},
                {"store", required_argument, NULL, OPT_STORE},
                {"provider", required_argument, NULL, OPT_PROVIDER},
                {"name", required_argument, NULL, OPT_NAME},
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
        if (o->snapshot_name && (o->provider || o->name || o->hooks_dir || o->timeout_ms || o->allow_crash ||
                                 o->no_freeze || o->lvm_size))
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

        char err[BK_ERRLEN] = "";
        int ret = EXIT_FAILURE;
        qz_manifest *s = NULL;
        struct fs_result *res = NULL;
        struct bk_archive *arc = NULL;
        bool made_now = false, deleted = false, ok = false;
        uint64_t archive_bytes = 0;
        int64_t t0 = qz_now_ms();

        if ((r = bk_cleanup_init()) < 0) {
                cli_error("backup: cannot set up signal handling: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        if (o.snapshot_name) {
                char *store = qz_store_dir(o.store);
                r = qz_manifest_load(store, o.snapshot_name, &s);
                if (r == -ENOENT)
                        cli_error("backup: snapshot '%s' not found in %s", o.snapshot_name, store);
                else if (r == -EBADMSG)
                        cli_error("backup: %s/%s.json: not a quiesce snapshot manifest", store,
                                  o.snapshot_name);
                else if (r < 0)
                        cli_error("backup: %s/%s.json: %s", store, o.snapshot_name, strerror(-r));
                free(store);
                if (r < 0)
                        return EXIT_FAILURE;
        } else {
                if (make_snapshot(cli, &o, &s) < 0)
                        return bk_interrupted() ? 128 + bk_interrupted() : EXIT_FAILURE;
                made_now = true;
        }
        if (qz_manifest_proven_label(s, NULL) == QZ_LABEL_CRASH && !o.json)
                cli_error("warning: snapshot %s is crash-consistent: its filesystems were not frozen "
                          "throughout",
                          s->name);

        for (size_t i = 0; i < s->n_fs; i++)
                if (!s->fs[i].snapshot) {
                        cli_error("backup: snapshot %s is incomplete: %s (%s) has no snapshot%s%s", s->name,
                                  s->fs[i].mountpoint, s->fs[i].fstype, s->fs[i].error ? ": " : "",
                                  s->fs[i].error ? s->fs[i].error : "");
                        goto out;
                }
        res = calloc(s->n_fs, sizeof(*res));
        if (!res)
                abort();
        for (size_t i = 0; i < s->n_fs; i++) {
                res[i].prefix = archive_prefix(s->fs[i].mountpoint);
                res[i].exit_status = -1;
        }

        /* Private from here: our mounts are seen by nobody and die with us. */
        if ((r = bk_private_mounts(err, sizeof(err))) < 0) {
                cli_error("backup: %s", err);
                goto out;
        }
        const char *tmpbase = getenv("TMPDIR");
        char *tmpdir;
        if (asprintf(&tmpdir, "%s/quiesce-backup.XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp") < 0)
                abort();
        if (!mkdtemp(tmpdir)) {
                cli_error("backup: cannot create a temporary directory %s: %m", tmpdir);
                free(tmpdir);
                goto out;
        }
        bk_cleanup_push(BK_DIR, tmpdir, 0);

        struct bk_progress prog;
        bk_progress_init(&prog, o.to && isatty(STDERR_FILENO));
        for (size_t i = 0; i < s->n_fs && !bk_interrupted(); i++) {
                r = bk_mount_snapshot(s->fs[i].snapshot, s->fs[i].fstype, tmpdir, (unsigned)i, &res[i].m, err,
                                      sizeof(err));
                if (r < 0) {
                        cli_error("backup: %s: %s", s->fs[i].mountpoint, err);
                        goto out_tmp;
                }
                if (res[i].m.journal_replay_skipped && !replay_expected(&s->fs[i], &res[i].m))
                        cli_error("warning: %s: the snapshot's journal needed recovery; mounted without "
                                  "replaying it (%s): the snapshot was not taken from a frozen filesystem",
                                  s->fs[i].mountpoint, res[i].m.options);
                bk_progress_measure(&prog, res[i].m.dir);
        }
        if (bk_interrupted())
                goto out_tmp;

        if (o.to) {
                if (bk_archive_open(o.to, &arc, err, sizeof(err)) < 0) {
                        cli_error("backup: %s", err);
                        goto out_tmp;
                }
                prog.start_ms = qz_now_ms();
                for (size_t i = 0; i < s->n_fs; i++) {
                        r = bk_archive_add_tree(arc, res[i].m.dir, res[i].prefix, &prog, &res[i].counts, err,
                                                sizeof(err));
                        if (r < 0)
                                break;
                }
                bk_progress_done(&prog);
                if (r == -EINTR || bk_interrupted())
                        goto out_tmp;
                if (r < 0) {
                        cli_error("backup: %s", err);
                        goto out_tmp;
                }
                r = bk_archive_close(arc, true, &archive_bytes, err, sizeof(err));
                arc = NULL;
                if (r < 0) {
                        cli_error("backup: %s", err);
                        goto out_tmp;
                }
        } else {
                char *cmdline = cli_join(o.exec, o.n_exec, " ");
                for (size_t i = 0; i < s->n_fs; i++) {
                        struct bk_exec_vars v = {.path = res[i].m.dir,
                                                 .mountpoint = s->fs[i].mountpoint,
                                                 .fstype = s->fs[i].fstype,
                                                 .name = s->name,
                                                 .label = qz_label_name(qz_manifest_proven_label(s, NULL)),
                                                 .stdout_to_stderr = o.json};
                        fflush(stdout);
                        r = bk_exec_run(o.exec, o.n_exec, &v, err, sizeof(err));
                        if (r == -EINTR || bk_interrupted())
                                break;
                        if (r < 0) {
                                cli_error("backup: %s: %s", s->fs[i].mountpoint, err);
                                break;
                        }
                        res[i].exit_status = qz_child_exit_status(r);
                        if (res[i].exit_status != 0) {
                                cli_error("backup: %s: '%s' failed on the snapshot mounted at %s: exit "
                                          "status %d",
                                          s->fs[i].mountpoint, cmdline, res[i].m.dir, res[i].exit_status);
                                r = -1;
                                break;
                        }
                }
                free(cmdline);
                if (r < 0 || bk_interrupted())
                        goto out_tmp;
        }
        ok = true;

out_tmp:
        if (arc)
                bk_archive_close(arc, false, NULL, NULL, 0);
        for (size_t i = 0; i < s->n_fs; i++)
                if (res[i].m.dir && bk_unmount_snapshot(&res[i].m) < 0)
                        ok = false;
        free(tmpdir);
out:
        if (bk_cleanup_run() > 0) {
                cli_error("backup: some temporary objects could not be removed (see above)");
                ok = false;
        }
        if (bk_interrupted()) {
                int sig = bk_interrupted();
                cli_error("backup interrupted by %s; %s%s",
                          sigabbrev_np(sig) ? sigabbrev_np(sig) : "a signal",
                          o.to ? "no archive written, " : "", "temporary mounts and loop devices removed");
                ok = false;
                ret = 128 + sig;
        }
        if (made_now && !o.keep) {
                r = delete_snapshot(&o, s);
                if (r < 0)
                        cli_error("backup: snapshot %s could not be deleted: %s", s->name, strerror(-r));
                else
                        deleted = true;
        }
        if (ok) {
                print_report(&o, s, res, archive_bytes, qz_now_ms() - t0, made_now, deleted);
                ret = EXIT_SUCCESS;
        }
        if (res)
                for (size_t i = 0; i < s->n_fs; i++)
                        free(res[i].prefix);
        free(res);
        qz_manifest_free(s);
        return ret;
}
