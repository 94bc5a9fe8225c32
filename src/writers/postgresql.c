/* SPDX-License-Identifier: GPL-2.0-or-later */
/* postgresql.c - writer-postgresql, the ready-made PostgreSQL writer: a
 * --session helper (session.h) on one connection (libpq):
 *
 *     prepare   CHECKPOINT, outside the freeze: the long work, so that the
 *               snapshot's crash recovery has little WAL to replay
 *     freeze    answers the WAL position at that moment (wal_lsn=...)
 *     thaw      nothing to let go (abort: the same)
 *
 * PostgreSQL needs no lock across the freeze: its data directory and WAL
 * frozen together (one group) are a crash-consistent image it recovers from.
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "quiesce-version.h"
#include "session.h"
#include "xalloc.h"

#define NAME "writer-postgresql"

typedef struct pg {
        const char *conninfo;
        bool skip_checkpoint;
        PGconn *db;
        bool lost; /* the last statement failed for the connection's sake */
} pg;

/* The first line of libpq's message (it ends in a newline). */
static char *pg_message(PGconn *db) {
        const char *s = PQerrorMessage(db);
        return xasprintf("%.*s", (int)strcspn(s, "\n"), s);
}

static int pg_connect(void *ctx, char **ret_error) {
        pg *p = ctx;
        if (p->db)
                PQfinish(p->db);
        p->db = PQconnectdb(p->conninfo);
        if (!p->db)
                return qz_error(ret_error, -ENOMEM, "PQconnectdb failed");
        if (PQstatus(p->db) != CONNECTION_OK) {
                _cleanup_free_ char *msg = pg_message(p->db);
                return qz_error(ret_error, -ECONNREFUSED, "cannot connect to PostgreSQL (\"%s\"): %s",
                                p->conninfo, msg);
        }
        return 0;
}

/* One statement; its first value (malloc'd) in *ret_value if wanted. */
static bool query(pg *p, const char *sql, char **ret_value, char **ret_text) {
        PGresult *res = PQexec(p->db, sql);
        ExecStatusType st = PQresultStatus(res);
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (!ok) {
                /* No SQLSTATE: libpq's own error (the connection), not the server's. */
                p->lost = PQstatus(p->db) != CONNECTION_OK || !PQresultErrorField(res, PG_DIAG_SQLSTATE);
                _cleanup_free_ char *msg = pg_message(p->db);
                qz_set_error(ret_text, "%s: %s", sql, msg);
        } else if (ret_value)
                *ret_value =
                        st == PGRES_TUPLES_OK && PQntuples(res) > 0 ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
        PQclear(res);
        return ok;
}

static qz_answer pg_phase(void *ctx, qz_phase ph, char **ret_text) {
        pg *p = ctx;
        switch (ph) {
        case QZ_PHASE_PREPARE: {
                /* The session may have died since the last freeze (a server
                 * restart): a failed first statement on a broken connection
                 * reconnects once, and the statement runs again. */
                const char *sql = p->skip_checkpoint ? "SELECT 1" : "CHECKPOINT";
                if (query(p, sql, NULL, ret_text))
                        return QZ_ANSWER_OK;
                if (!p->lost)
                        return QZ_ANSWER_FAIL; /* the connection is fine: the statement failed */
                PQreset(p->db);
                if (PQstatus(p->db) != CONNECTION_OK) {
                        _cleanup_free_ char *msg = pg_message(p->db);
                        free(*ret_text);
                        *ret_text = xasprintf("cannot reconnect to PostgreSQL: %s", msg);
                        return QZ_ANSWER_FAIL;
                }
                free(*ret_text);
                *ret_text = NULL;
                return query(p, sql, NULL, ret_text) ? QZ_ANSWER_OK : QZ_ANSWER_FAIL;
        }
        case QZ_PHASE_FREEZE: {
                _cleanup_free_ char *lsn = NULL, *recovery = NULL;
                if (!query(p, "SELECT pg_is_in_recovery()", &recovery, ret_text))
                        return QZ_ANSWER_FAIL;
                bool standby = recovery && strcmp(recovery, "t") == 0;
                if (!query(p, standby ? "SELECT pg_last_wal_replay_lsn()" : "SELECT pg_current_wal_lsn()",
                           &lsn, ret_text))
                        return QZ_ANSWER_FAIL;
                *ret_text = xasprintf("wal_lsn=%s%s", lsn ? lsn : "unknown", standby ? " standby" : "");
                return QZ_ANSWER_OK;
        }
        case QZ_PHASE_THAW:
        case QZ_PHASE_ABORT:
                return QZ_ANSWER_OK;
        case QZ_PHASE_INVALID:
                break;
        }
        return QZ_ANSWER_FAIL;
}

static void pg_release(void *ctx) {
        pg *p = ctx;
        if (p->db)
                PQfinish(p->db);
        p->db = NULL;
}

static void usage(FILE *out) {
        fputs("\nUsage:\n " NAME " [options] [KEYWORD=VALUE...]\n\n"
              "A session helper for quiesce writer --session: runs CHECKPOINT at prepare and\n"
              "records the WAL position at freeze (see quiesce(8), WRITERS). The arguments\n"
              "are a libpq connection string, one keyword=value per word (default\n"
              "\"dbname=postgres\" through the default socket; PG* variables apply).\n\n"
              "Options:\n"
              "     --no-checkpoint      skip the CHECKPOINT at prepare\n\n"
              " -h, --help               display this help\n"
              " -V, --version            display version\n",
              out);
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"no-checkpoint", no_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        pg p = {.conninfo = "dbname=postgres"};
        int c;
        while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'C':
                        p.skip_checkpoint = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf(NAME " from quiesce %s\n", QZ_VERSION_STRING);
                        return 0;
                default:
                        fprintf(stderr, "Try '" NAME " --help' for more information.\n");
                        return 2;
                }
        }
        /* keyword=value words, as libpq takes them (a template has no quoting) */
        _cleanup_free_ char *joined = NULL;
        for (int i = optind; i < argc; i++) {
                char *next = joined ? xasprintf("%s %s", joined, argv[i]) : xstrdup(argv[i]);
                free(joined);
                joined = next;
        }
        if (joined)
                p.conninfo = joined;
        const qz_session_ops ops = {.connect = pg_connect, .phase = pg_phase, .release = pg_release};
        return qz_session_serve(NAME, &ops, &p);
}
