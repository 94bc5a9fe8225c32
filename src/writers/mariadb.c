/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mariadb.c - writer-mariadb, the ready-made MariaDB writer: a --session
 * helper (session.h) that keeps one live connection and holds MariaDB's
 * backup locks across the freeze:
 *
 *     prepare   BACKUP STAGE START, BACKUP STAGE FLUSH   (outside the freeze)
 *     freeze    BACKUP STAGE BLOCK_DDL, BLOCK_COMMIT; answers the binary
 *               log position and GTID at that moment
 *     thaw      BACKUP STAGE END   (abort: the same)
 *
 * The locks live as long as this connection: if the helper dies they go
 * with it, and the server never stays blocked. Between freezes it holds
 * nothing, and reconnects at prepare if the server closed the idle session.
 */
#include <errno.h>
#include <getopt.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "quiesce-version.h"
#include "session.h"
#include "xalloc.h"

#define NAME "writer-mariadb"

typedef struct mdb {
        const char *socket, *user, *defaults_file;
        unsigned lock_wait; /* seconds: how long BLOCK_DDL/BLOCK_COMMIT may wait for a lock */
        MYSQL *db;
        bool staged; /* a BACKUP STAGE is active on this connection */
} mdb;

static int mdb_connect(void *ctx, char **ret_error) {
        mdb *m = ctx;
        if (m->db)
                mysql_close(m->db);
        m->db = mysql_init(NULL);
        if (!m->db)
                return qz_error(ret_error, -ENOMEM, "mysql_init failed");
        m->staged = false;
        if (m->defaults_file)
                mysql_optionsv(m->db, MYSQL_READ_DEFAULT_FILE, m->defaults_file);
        mysql_optionsv(m->db, MYSQL_READ_DEFAULT_GROUP, "quiesce-writer");
        unsigned connect_timeout = 10;
        mysql_optionsv(m->db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        if (!mysql_real_connect(m->db, NULL, m->user, NULL, NULL, 0, m->socket, 0))
                return qz_error(ret_error, -ECONNREFUSED, "cannot connect to MariaDB%s%s: %s",
                                m->socket ? " at " : "", m->socket ? m->socket : "", mysql_error(m->db));
        /* Bounded lock waits, and a session that outlives a quiet night. */
        char sql[128];
        snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u, SESSION wait_timeout = 31536000",
                 m->lock_wait);
        if (mysql_query(m->db, sql))
                return qz_error(ret_error, -EIO, "%s: %s", sql, mysql_error(m->db));
        return 0;
}

/* Runs each statement in order; stops at the first error, with "STATEMENT:
 * error" in *ret_text. */
static bool run(mdb *m, const char *const *sql, char **ret_text) {
        for (; *sql; sql++)
                if (mysql_query(m->db, *sql)) {
                        qz_set_error(ret_text, "%s: %s", *sql, mysql_error(m->db));
                        return false;
                }
        return true;
}

static void end_stage(mdb *m) {
        if (m->staged && m->db && mysql_query(m->db, "BACKUP STAGE END") == 0)
                m->staged = false;
}

/* "binlog=FILE:POS gtid=..." (or "binlog=off"), read under BLOCK_COMMIT so
 * it is the position of the data the snapshot holds. */
static char *binlog_position(mdb *m) {
        _cleanup_free_ char *binlog = NULL;
        if (mysql_query(m->db, "SHOW MASTER STATUS") == 0) {
                MYSQL_RES *res = mysql_store_result(m->db);
                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                if (row && row[0] && row[1])
                        binlog = xasprintf("binlog=%s:%s", row[0], row[1]);
                if (res)
                        mysql_free_result(res);
        }
        _cleanup_free_ char *gtid = NULL;
        if (mysql_query(m->db, "SELECT @@gtid_binlog_pos") == 0) {
                MYSQL_RES *res = mysql_store_result(m->db);
                MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
                if (row && row[0] && *row[0])
                        gtid = xasprintf(" gtid=%s", row[0]);
                if (res)
                        mysql_free_result(res);
        }
        return xasprintf("%s%s", binlog ? binlog : "binlog=off", gtid ? gtid : "");
}

static qz_answer mdb_phase(void *ctx, qz_phase p, char **ret_text) {
        mdb *m = ctx;
        switch (p) {
        case QZ_PHASE_PREPARE: {
                end_stage(m); /* a stage left from a freeze that never got its thaw */
                if (!m->db || mysql_ping(m->db) != 0) {
                        _cleanup_free_ char *error = NULL;
                        if (mdb_connect(m, &error) < 0) {
                                *ret_text = TAKE_PTR(error);
                                return QZ_ANSWER_FAIL;
                        }
                }
                static const char *const start[] = {"BACKUP STAGE START", NULL};
                if (!run(m, start, ret_text))
                        return QZ_ANSWER_FAIL;
                m->staged = true;
                static const char *const flush[] = {"BACKUP STAGE FLUSH", NULL};
                if (!run(m, flush, ret_text)) {
                        end_stage(m);
                        return QZ_ANSWER_FAIL;
                }
                return QZ_ANSWER_OK;
        }
        case QZ_PHASE_FREEZE: {
                if (!m->staged) {
                        *ret_text = xstrdup("freeze without a prepare (no BACKUP STAGE is active)");
                        return QZ_ANSWER_FAIL;
                }
                static const char *const block[] = {"BACKUP STAGE BLOCK_DDL", "BACKUP STAGE BLOCK_COMMIT",
                                                    NULL};
                if (!run(m, block, ret_text)) {
                        end_stage(m);
                        return QZ_ANSWER_FAIL;
                }
                *ret_text = binlog_position(m);
                return QZ_ANSWER_OK;
        }
        case QZ_PHASE_THAW:
        case QZ_PHASE_ABORT:
                if (!m->staged)
                        return QZ_ANSWER_OK;
                static const char *const end[] = {"BACKUP STAGE END", NULL};
                if (!run(m, end, ret_text)) {
                        /* The locks go with the connection: drop it rather than hold them. */
                        mysql_close(m->db);
                        m->db = NULL;
                        m->staged = false;
                        return QZ_ANSWER_FAIL;
                }
                m->staged = false;
                return QZ_ANSWER_OK;
        case QZ_PHASE_INVALID:
                break;
        }
        return QZ_ANSWER_FAIL;
}

static void mdb_release(void *ctx) {
        mdb *m = ctx;
        end_stage(m);
        if (m->db)
                mysql_close(m->db);
        m->db = NULL;
}

static void usage(FILE *out) {
        fputs("\nUsage:\n " NAME " [options]\n\n"
              "A session helper for quiesce writer --session: holds MariaDB's BACKUP STAGE\n"
              "locks on one live connection from freeze to thaw (see quiesce(8), WRITERS).\n\n"
              "Options:\n"
              " -S, --socket PATH        the server's socket (default: the client's default,\n"
              "                            /run/mysqld/mysqld.sock)\n"
              " -u, --user NAME          connect as NAME (default: the client's default; as\n"
              "                            root, unix_socket authentication)\n"
              "     --defaults-file FILE read client options from FILE ([client] and\n"
              "                            [quiesce-writer] groups)\n"
              "     --lock-wait-timeout SECONDS\n"
              "                          how long BLOCK_DDL and BLOCK_COMMIT may wait for a\n"
              "                            lock (default 5)\n\n"
              " -h, --help               display this help\n"
              " -V, --version            display version\n",
              out);
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"socket", required_argument, NULL, 'S'},
                {"user", required_argument, NULL, 'u'},
                {"defaults-file", required_argument, NULL, 'D'},
                {"lock-wait-timeout", required_argument, NULL, 'L'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {NULL, 0, NULL, 0},
        };
        mdb m = {.lock_wait = 5};
        int c;
        while ((c = getopt_long(argc, argv, "S:u:hV", longopts, NULL)) != -1) {
                switch (c) {
                case 'S':
                        m.socket = optarg;
                        break;
                case 'u':
                        m.user = optarg;
                        break;
                case 'D':
                        m.defaults_file = optarg;
                        break;
                case 'L': {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || v == 0 || v > 3600) {
                                fprintf(stderr,
                                        NAME ": --lock-wait-timeout: \"%s\" is not a number of "
                                             "seconds from 1 to 3600\n",
                                        optarg);
                                return 2;
                        }
                        m.lock_wait = (unsigned)v;
                        break;
                }
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
        if (optind < argc) {
                fprintf(stderr,
                        NAME ": unexpected argument \"%s\"\nTry '" NAME " --help' for more information.\n",
                        argv[optind]);
                return 2;
        }
        if (mysql_library_init(0, NULL, NULL)) {
                fprintf(stderr, NAME ": cannot initialise the MariaDB client library\n");
                return 1;
        }
        const qz_session_ops ops = {.connect = mdb_connect, .phase = mdb_phase, .release = mdb_release};
        int r = qz_session_serve(NAME, &ops, &m);
        mysql_library_end();
        return r;
}
