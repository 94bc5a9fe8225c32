/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status.c - `quiesce status [--json]`: the filesystems quiesced froze (or
 * recently thawed), their holds and deadlines, time frozen and last stall,
 * and the registered writers with their last phase; --json prints
 * quiesced's Status answer as it is.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define N_COLS 8

static const char *const headers[N_COLS] = {"FILESYSTEM", "MOUNTPOINT", "TYPE",    "STATE",
                                            "FROZEN",     "STALL",      "CEILING", "HOLDS"};

static void print_row(char cells[N_COLS][256], const int *width) {
        for (int i = 0; i < N_COLS; i++) {
                if (i == N_COLS - 1)
                        printf("%s\n", cells[i]);
                else
                        printf("%-*s ", width[i], cells[i]);
        }
}

static void fill_row(const qz_fs_status *f, char cells[N_COLS][256]) {
        char d[32];
        if (f->fs.source[0] && f->fs.id[0])
                snprintf(cells[0], 256, "%s (%s)", f->fs.source, f->fs.id);
        else
                snprintf(cells[0], 256, "%s", f->fs.source[0] ? f->fs.source : f->fs.id);
        snprintf(cells[1], 256, "%s", f->fs.mountpoint);
        snprintf(cells[2], 256, "%s", f->fs.fstype);
        snprintf(cells[3], 256, "%s", f->state);
        snprintf(cells[4], 256, "%s", qz_format_duration(f->frozen_ms, d, sizeof(d)));
        /* STALL: how long the FIFREEZE itself blocked writes (protocol's stall_ms). */
        snprintf(cells[5], 256, "%s",
                 f->fs.stall_ms < 0 ? "-" : qz_format_duration(f->fs.stall_ms, d, sizeof(d)));
        snprintf(cells[6], 256, "%s",
                 f->ceiling_ms < 0 ? "-" : qz_format_duration(f->ceiling_ms, d, sizeof(d)));
        snprintf(cells[7], 256, "%zu", f->n_holds);
}

/* "  proof: held; probe EBUSY at 1.2s; 0 sectors written on loop1 since the freeze", or the breach. */
static void print_proof(const qz_fs_status *f) {
        const qz_proof *p = &f->fs.proof;
        if (!p->known)
                return;
        if (!p->held) {
                printf("  proof: BROKEN, %u breach%s: %s\n", p->breaches, p->breaches == 1 ? "" : "es",
                       p->breach ? p->breach : "?");
        } else {
                char when[32], probe[64], counter[160];
                if (p->probe[0])
                        snprintf(probe, sizeof(probe), "probe %s at %s", p->probe,
                                 qz_format_duration(p->probe_ms, when, sizeof(when)));
                else
                        snprintf(probe, sizeof(probe), "no probe yet");
                if (p->sectors_written >= 0)
                        snprintf(counter, sizeof(counter),
                                 "%" PRId64 " sectors written on %s since the freeze", p->sectors_written,
                                 p->device);
                else
                        snprintf(counter, sizeof(counter), "no write counter");
                printf("  proof: held; %s; %s\n", probe, counter);
        }
        if (p->foreign)
                printf("  the freeze in place is another process's: quiesce will not thaw it\n");
}

static void print_hold(const qz_hold_info *h) {
        char age[32], rem[32];
        char owner[64];
        if (h->detached)
                snprintf(owner, sizeof(owner), "detached");
        else
                snprintf(owner, sizeof(owner), "pid %ld", (long)h->pid);
        qz_format_duration(h->age_ms, age, sizeof(age));
        const char *broken = h->broken ? ", BROKEN: its freeze did not hold" : "";
        if (h->remaining_ms < 0)
                printf("  hold %" PRIu64 ": %s, uid %ld, age %s, no deadline%s\n", h->id, owner, (long)h->uid,
                       age, broken);
        else
                printf("  hold %" PRIu64 ": %s, uid %ld, age %s, deadline in %s%s\n", h->id, owner,
                       (long)h->uid, age, qz_format_duration(h->remaining_ms, rem, sizeof(rem)), broken);
}

/* "  pg (id 3): pid 1234, uid 0, required, registered 5s ago", then one
 * line per filesystem and its last phase. */
static void print_writer(const qz_writer_status *w) {
        char age[32], ago[32], ms[32];
        printf("  %s (id %" PRIu64 "): pid %ld, uid %ld%s%s, registered %s ago\n", w->name, w->id,
               (long)w->pid, (long)w->uid, w->required ? ", required" : "", w->may_veto ? ", may veto" : "",
               w->age_ms >= 0 ? qz_format_duration(w->age_ms, age, sizeof(age)) : "?");
        for (size_t i = 0; i < w->n_fs; i++)
                printf("    %s: %s %s on %s\n", w->fs[i].mountpoint, w->fs[i].fstype, w->fs[i].id,
                       w->fs[i].source);
        if (!w->last_freeze_id) {
                printf("    not asked yet: no freeze of its filesystems since it registered\n");
                return;
        }
        qz_format_duration(w->last_ago_ms >= 0 ? w->last_ago_ms : 0, ago, sizeof(ago));
        if (w->last_ms >= 0)
                printf("    last: %s of freeze %" PRIu64 " %s ago, answered %s in %s%s%s%s\n", w->last_phase,
                       w->last_freeze_id, ago, w->last_answer, qz_format_duration(w->last_ms, ms, sizeof(ms)),
                       w->last_timed_out ? " (late)" : "", w->last_detail ? ": " : "",
                       w->last_detail ? w->last_detail : "");
        else
                printf("    last: %s of freeze %" PRIu64 " %s ago, %s\n", w->last_phase, w->last_freeze_id,
                       ago, w->last_timed_out ? "NOT answered in time" : "not answered yet");
}

static void print_writers(const qz_status *s) {
        if (s->n_writers == 0) {
                printf("no writer is registered\n");
                return;
        }
        printf("writers: %zu registered\n", s->n_writers);
        for (size_t i = 0; i < s->n_writers; i++)
                print_writer(&s->writers[i]);
}

/* "quiesced 0.1.0, max-frozen 1m; freezes 3, thaws 2" (counters if the daemon sends them). */
static void print_summary(const qz_status *s) {
        char d[32];
        printf("quiesced %s, max-frozen %s", s->version[0] ? s->version : "?",
               qz_format_duration(s->max_frozen_ms, d, sizeof(d)));
        for (size_t i = 0; i < s->n_counters; i++)
                printf("%s%s %" PRId64, i ? ", " : "; ", s->counters[i].name, s->counters[i].value);
        putchar('\n');
}

static void print_table(const qz_status *s) {
        size_t frozen = 0;
        for (size_t i = 0; i < s->n_fs; i++)
                if (strcmp(s->fs[i].state, "thawed") != 0)
                        frozen++;
        if (s->n_fs > 0) {
                int width[N_COLS];
                char cells[N_COLS][256];
                for (int i = 0; i < N_COLS; i++)
                        width[i] = (int)strlen(headers[i]);
                for (size_t i = 0; i < s->n_fs; i++) {
                        fill_row(&s->fs[i], cells);
                        for (int j = 0; j < N_COLS; j++)
                                if ((int)strlen(cells[j]) > width[j])
                                        width[j] = (int)strlen(cells[j]);
                }
                for (int i = 0; i < N_COLS; i++)
                        snprintf(cells[i], 256, "%s", headers[i]);
                print_row(cells, width);
                for (size_t i = 0; i < s->n_fs; i++) {
                        fill_row(&s->fs[i], cells);
                        print_row(cells, width);
                        print_proof(&s->fs[i]);
                        for (size_t j = 0; j < s->fs[i].n_holds; j++)
                                print_hold(&s->fs[i].holds[j]);
                }
        }
        if (frozen == 0)
                printf("no filesystem is frozen\n");
        print_writers(s);
        print_summary(s);
}

int cmd_status(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        bool json = false;
        int opt;

        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "J", longopts, NULL)) != -1) {
                switch (opt) {
                case 'J':
                        json = true;
                        break;
                default: {
                        int r = cli_common_option(cli, "status", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        if (optind < argc)
                return cli_usage_error("status: unexpected argument '%s'", argv[optind]);

        qz_client *c = cli_connect(cli);
        if (!c)
                return EXIT_FAILURE;
        int ret = EXIT_SUCCESS;
        if (json) {
                char *text;
                int r = qz_client_status_json(c, &text);
                if (r < 0) {
                        cli_client_error(c, r, NULL);
                        ret = EXIT_FAILURE;
                } else {
                        if (cli_print_json(text, NULL) < 0)
                                ret = EXIT_FAILURE;
                        free(text);
                }
        } else {
                qz_status *s;
                int r = qz_client_status(c, &s);
                if (r < 0) {
                        cli_client_error(c, r, NULL);
                        ret = EXIT_FAILURE;
                } else {
                        print_table(s);
                        qz_status_free(s);
                }
        }
        qz_client_close(c);
        return ret;
}
