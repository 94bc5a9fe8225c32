/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wevents.c - what reaches a writer run from outside (writers.h): the
 * answers, a writer's or a requester's departure, the end of its freeze
 * (answered, failed), and the thaw of a filesystem it is bound to.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "phases-private.h"
#include "writers.h"
#include "xalloc.h"

void qz_phases_op_done(qz_daemon *d, qz_conn *c, bool ok) {
        for (qz_wrun *run = d->writers.runs; run; run = run->next) {
                if (run->requester != c || run->state != RUN_BOUND)
                        continue;
                run->requester = NULL;
                if (ok)
                        return;
                for (size_t i = 0; i < run->n_fs && run->state == RUN_BOUND; i++) {
                        if (!run->bound[i])
                                continue;
                        qz_fs *fs = qz_holds_find_fs(d->holds, run->devno[i]);
                        if (!fs || fs->state == QZ_FS_THAWED)
                                qz_wrun_unbind(run, i, "the freeze failed"); /* may free run: last */
                }
                return;
        }
}

void qz_phases_requester_gone(qz_daemon *d, qz_conn *c) {
        qz_writers *ws = &d->writers;
        for (size_t i = ws->n_thawing; i-- > 0;)
                if (ws->thawing[i].c == c) {
                        ws->thawing[i].free_arg(ws->thawing[i].arg);
                        qz_wrun_unpin(d, ws->thawing[i].fs, ws->thawing[i].n, true);
                        ws->thawing[i] = ws->thawing[--ws->n_thawing];
                }
again:
        for (qz_wrun *run = ws->runs; run; run = run->next) {
                for (size_t i = run->n_waiters; i-- > 0;)
                        if (run->waiters[i].c == c) {
                                run->waiters[i].free_arg(run->waiters[i].arg);
                                qz_wrun_unpin(d, run->waiters[i].fs, run->waiters[i].n, true);
                                run->waiters[i] = run->waiters[--run->n_waiters];
                        }
                if (run->requester != c)
                        continue;
                if (run->state == RUN_BOUND) {
                        qz_phases_op_done(d, c, false);
                } else {
                        run->free_arg(run->arg);
                        run->done = NULL;
                        run->requester = NULL;
                        log_notice("freeze %" PRIu64 ": its requester went away; writers released", run->id);
                        qz_wrun_end(run, 0, NULL);
                }
                goto again; /* the list may have changed */
        }
}

void qz_phases_fs_thawed(qz_daemon *d, qz_fs *fs, const char *why) {
        qz_wrun *run = fs->writers;
        (void)d;
        if (!run)
                return;
        for (size_t i = 0; i < run->n_fs; i++)
                if (run->devno[i] == fs->devno && run->bound[i]) {
                        qz_wrun_unbind(run, i, why);
                        return;
                }
        fs->writers = NULL;
}

static qz_wrun *find_run(qz_writers *ws, uint64_t id) {
        for (qz_wrun *run = ws->runs; run; run = run->next)
                if (run->id == id)
                        return run;
        return NULL;
}

void qz_phases_answer(qz_daemon *d, qzd_writer *w, uint64_t freeze_id, qz_phase phase, qz_answer answer,
                      const char *detail) {
        qz_wrun *run = find_run(&d->writers, freeze_id);
        wslot *s = NULL;
        for (size_t i = 0; run && i < run->n && !s; i++)
                if (run->slot[i].w == w)
                        s = &run->slot[i];
        if (!s || !s->sent[phase] || s->answer[phase] != QZ_ANSWER_NONE) {
                log_debug("writer %s: %s to %s of freeze %" PRIu64
                          " ignored (not asked, or answered already)",
                          w->name, qz_answer_name(answer), qz_phase_name(phase), freeze_id);
                return;
        }
        usec_t now = qz_now();
        s->answer[phase] = answer;
        s->detail[phase] = detail ? xstrdup(detail) : NULL;
        s->answered[phase] = now;
        s->late[phase] = s->timed_out[phase];
        qz_log(answer == QZ_ANSWER_OK ? LOG_DEBUG : LOG_NOTICE,
               "writer %s (pid %d): %s %s%s%s of freeze %" PRIu64 " after %" PRIu64 " ms%s", w->name,
               (int)w->pid, qz_answer_name(answer), qz_phase_name(phase), detail ? ": " : "",
               detail ? detail : "", run->id, (now - s->sent[phase]) / 1000,
               s->late[phase] ? " (late: not counted)" : "");
        if ((phase == QZ_PHASE_PREPARE && run->state == RUN_PREPARE) ||
            (phase == QZ_PHASE_FREEZE && run->state == RUN_FREEZE))
                qz_wrun_advance(run);
}

void qz_phases_writer_gone(qz_daemon *d, qzd_writer *w) {
        qz_writers *ws = &d->writers;
again:
        for (qz_wrun *run = ws->runs; run; run = run->next)
                for (size_t i = 0; i < run->n; i++) {
                        wslot *s = &run->slot[i];
                        if (s->w != w || s->gone)
                                continue;
                        s->gone = true;
                        /* lost: it had agreed to (or been held in) a freeze; one that goes
                         * before answering freeze is a failure of that phase */
                        if (s->sent[QZ_PHASE_FREEZE] && !s->closed &&
                            (run->state == RUN_BOUND || s->answer[QZ_PHASE_FREEZE] == QZ_ANSWER_OK)) {
                                s->lost = true;
                                log_warning("writer %s (pid %d) went away during freeze %" PRIu64
                                            ", before its thaw: its application may not be consistent",
                                            w->name, (int)w->pid, run->id);
                        }
                        s->closed = true;
                        if (run->state == RUN_PREPARE || run->state == RUN_FREEZE) {
                                qz_wrun_advance(run);
                                goto again; /* the run may be over */
                        }
                }
}
