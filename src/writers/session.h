/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session.h - the helper's side of `quiesce writer --session`: a process that
 * keeps an application's session open (a database connection that holds a
 * lock) and answers the phases on its stdin, one line each:
 *
 *     helper -> writer   ready
 *     writer -> helper   prepare | freeze | thaw | abort
 *     helper -> writer   ok [DETAIL] | veto REASON | fail REASON
 *
 * docs/writers.md describes the protocol; the ready-made writers (mariadb.c,
 * postgresql.c) are built on qz_session_serve().
 */
#pragma once

#include <stdbool.h>

typedef enum qz_phase {
        QZ_PHASE_PREPARE,
        QZ_PHASE_FREEZE,
        QZ_PHASE_THAW,
        QZ_PHASE_ABORT,
        QZ_PHASE_INVALID = -1,
} qz_phase;

typedef enum qz_answer {
        QZ_ANSWER_OK,
        QZ_ANSWER_VETO, /* prepare only: this is not a moment to freeze */
        QZ_ANSWER_FAIL,
} qz_answer;

/* The phase a line names ("freeze", "freeze\n", "freeze\r\n"; nothing else). */
qz_phase qz_phase_parse(const char *line);
const char *qz_phase_name(qz_phase p);

/* The answer line for an answer and its text (NULL: none), newlines and
 * control characters turned into spaces so it stays one line; malloc'd,
 * ending in "\n". A veto or failure without a reason gets one. */
char *qz_answer_line(qz_answer a, const char *text);

typedef struct qz_session_ops {
        /* Connects to the application; 0, or -errno and *ret_error. Called once
         * before "ready"; a helper that cannot connect exits 1 (the writer
         * reports its message). */
        int (*connect)(void *ctx, char **ret_error);
        /* One phase: the answer, with *ret_text (malloc'd, may stay NULL). */
        qz_answer (*phase)(void *ctx, qz_phase p, char **ret_text);
        /* Whatever the session still holds is let go (stdin closed, SIGTERM,
         * SIGINT): the helper is going away. */
        void (*release)(void *ctx);
} qz_session_ops;

/* Says ready, answers phases until stdin ends or SIGTERM/SIGINT, releases.
 * The exit status for main(): 0, or 1 when it could not connect. name is for
 * messages on stderr ("writer-mariadb: ..."). */
int qz_session_serve(const char *name, const qz_session_ops *ops, void *ctx);
