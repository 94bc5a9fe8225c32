/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cli.h - what the quiesce command's subcommands share: exit codes, the
 * global options, messages in util-linux manner (output.c), and the watch
 * loop that keeps a connection-bound hold and notices its end (watch.c).
 */
#pragma once

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "clock.h"
#include "quiesce.h"

#define EXIT_USAGE 2
#define EXIT_FREEZE_BROKEN 3  /* freeze, thaw, reset-timeout: the freeze did not hold throughout */
#define EXIT_RUN_BROKEN 123   /* run: the command finished, but the freeze did not hold throughout */
#define EXIT_RUN_DEADLINE 124 /* run: the freeze ended before the command did */
#define EXIT_RUN_FAILED 125   /* run: quiesce itself failed */
#define EXIT_RUN_CANNOT_EXEC 126
#define EXIT_RUN_NOT_FOUND 127

#define DETACHED_DEFAULT_TIMEOUT_MS 30000 /* freeze --detach without --timeout */
#define RUN_DEFAULT_TIMEOUT_MS 30000      /* run without --timeout */
#define RUN_KILL_GRACE_MS 2000            /* SIGTERM, then SIGKILL after this */

struct cli {
        const char *socket; /* --socket, or NULL: $QUIESCE_SOCKET, then the default */
};

int cmd_freeze(struct cli *cli, int argc, char **argv);
int cmd_thaw(struct cli *cli, int argc, char **argv);
int cmd_reset_timeout(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
/* snapshot_list.c: quiesce snapshot list */
int cli_snapshot_list(struct cli *cli, int argc, char **argv);
int cmd_job(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);

/* ---- job.c, job_run.c ---- */

struct json_object;
struct qz_job;
/* A job as JSON (every setting; env names only, not their values). */
struct json_object *cli_job_json(const struct qz_job *j);
/* "archive DIR/SNAPSHOT.tar.zst", "exec CMD ...", "snapshots only" (malloc'd). */
char *cli_job_target_text(const struct qz_job *j);
int cli_job_run(struct cli *cli, const char *dir, const char *name, bool dry_run, bool wait, bool json);
struct qz_job_writer;
/* A job's writers ([{"name", "registered", "where", "acknowledged", "reason"}];
 * acknowledged null before a snapshot judged them). */
struct json_object *cli_job_writers_json(const struct qz_job_writer *w, size_t n);
/* One line each: "  writer pg: registered: pid 812, uid 0, for /srv/db (ext4 7:1)",
 * or after a snapshot "  writer pg: acknowledged the freeze". */
void cli_job_writers_print(const struct qz_job_writer *w, size_t n);

/* snapshot_prune.c: quiesce snapshot prune, pin, unpin */
int cli_snapshot_prune(struct cli *cli, int argc, char **argv);
int cli_snapshot_pin(struct cli *cli, int argc, char **argv);
int cli_snapshot_unpin(struct cli *cli, int argc, char **argv);
int cmd_writer(struct cli *cli, int argc, char **argv);

/* ---- output.c ---- */

void cli_help(FILE *out);
/* help.c: the subcommand cmd's own --help ("snapshot list" ...); NULL or an
 * unknown one: cli_help. */
void cli_command_help(const char *cmd, FILE *out);
void cli_version(void);
/* "quiesce: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message, then "Try 'quiesce --help' ..."; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A failed client call: the daemon's (or library's) message, which names the
 * path; what (a path or "hold N") is used only when there is no message. */
void cli_client_error(qz_client *c, int r, const char *what);
/* Connect, or print why not and return NULL. */
qz_client *cli_connect(struct cli *cli);

/* Options every subcommand takes (-s/--socket, -h/--help, -V/--version) and
 * getopt's complaints (cmd: the subcommand, or NULL). -1: handled, go on;
 * else the exit code to return now. */
int cli_common_option(struct cli *cli, const char *cmd, int opt, char **argv);
#define CLI_COMMON_LONGOPTS                                                                                  \
        {"socket", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {                        \
                "version", no_argument, NULL, 'V'                                                            \
        }
#define CLI_COMMON_SHORTOPTS ":s:hV"

/* A duration or "none"; on a bad one prints the usage error and returns -1. */
int cli_parse_timeout(const char *text, int64_t *ret_ms);
int cli_parse_hold_id(const char *text, uint64_t *ret);
/* The strings joined with sep (malloc'd; never NULL: aborts on OOM). */
char *cli_join(char *const *v, size_t n, const char *sep);
/* Pretty-print a JSON text, or its member key, to stdout. 0 or -EBADMSG. */
int cli_print_json(const char *text, const char *key);

/* ---- hold_command.c: thaw and reset-timeout ---- */

/* What they act on: --hold ID, or the caller's holds on paths. */
struct hold_selection {
        bool by_hold;
        uint64_t hold;
        const char *const *paths;
        size_t n_paths;
        int64_t timeout_ms; /* reset-timeout's --timeout */
};
typedef int (*cli_hold_call)(qz_client *c, const struct hold_selection *t);
/* Parses the options (--timeout required when needs_timeout), connects, makes
 * the call, reports; returns the exit code. */
int cli_hold_command(struct cli *cli, const char *cmd, bool needs_timeout, cli_hold_call call, int argc,
                     char **argv);

/* ---- watch.c: keeping a connection-bound hold ---- */

enum watch_event {
        WATCH_SIGNAL,   /* SIGINT/SIGTERM/SIGHUP arrived (not forwarded) */
        WATCH_CHILD,    /* the child exited; status in child_status */
        WATCH_DEADLINE, /* the hold's deadline or quiesced's ceiling passed */
        WATCH_RELEASED, /* the hold is gone before its deadline (a thaw from elsewhere) */
        WATCH_LOST,     /* quiesced closed the connection (its holds are released) */
};

struct watch {
        qz_client *c;
        uint64_t hold_id;
        int sigfd; /* signalfd for SIGINT, SIGTERM, SIGHUP, SIGCHLD */
        sigset_t old_mask;
        pid_t child;        /* 0: none */
        int64_t deadline;   /* CLOCK_BOOTTIME ms, -1: none */
        int64_t limit_ms;   /* the length of that deadline, for messages */
        bool by_ceiling;    /* the deadline is quiesced's max-frozen ceiling */
        int64_t next_check; /* next Status poll */
        int child_status;   /* wait status once WATCH_CHILD */
        int signo;          /* the signal once WATCH_SIGNAL */
};

/* Blocks the signals and opens the signalfd; call before fork(). 0 or -errno. */
int watch_signals(struct watch *w);
/* Restores the signal mask (in the child before exec, or at the end). */
void watch_restore_signals(struct watch *w);
/* Learn the hold's deadline (and the ceiling, through Status). requested_ms
 * is the timeout asked for (for messages). 0 or -errno. */
int watch_start(struct watch *w, qz_client *c, const qz_hold *h, int64_t requested_ms);
/* Wait for the next event. With a child, SIGINT/SIGTERM/SIGHUP are forwarded
 * to it and the wait goes on; and the deadline is acted on at once, without
 * asking quiesced. */
enum watch_event watch_wait(struct watch *w);
/* SIGTERM the child, SIGKILL after RUN_KILL_GRACE_MS, reap it. */
void watch_kill_child(struct watch *w);

/* ---- writer_session.c: quiesce writer --session's helper ---- */

struct wsession {
        char **argv; /* the helper's command (no shell) */
        pid_t pid;   /* 0: not running */
        int in_w;    /* its stdin, our end */
        int out_r;   /* its stdout, our end */
        char buf[4096];
        size_t len;
        bool prepared, frozen; /* told prepare / freeze, and not yet thaw or abort */
        usec_t backoff;        /* before its next start, after a death */
        usec_t next_start;
        const sigset_t *sigmask;
};

void wsession_init(struct wsession *s, char **argv, const sigset_t *sigmask);
bool wsession_alive(const struct wsession *s);
/* Start it and wait until it prints "ready" (by deadline). 0 or -errno. */
int wsession_start(struct wsession *s, usec_t deadline, char **ret_error);
/* Write phase's line and read the answer line (malloc'd) by deadline. 0, or
 * -ETIMEDOUT, or -EPIPE (it died: restarted later, after the backoff). */
int wsession_phase(struct wsession *s, const char *phase, usec_t deadline, char **ret_line, char **ret_error);
/* Between phases: notices its death (its stdout readable at EOF). */
void wsession_poll_idle(struct wsession *s);
/* Close its stdin, wait up to grace, then SIGKILL. */
void wsession_stop(struct wsession *s, usec_t grace);
