/* SPDX-License-Identifier: GPL-2.0-or-later */
/* phases.c - a run of the writers' phases around one freeze that calls
 * FIFREEZE (writers.h): prepare to every writer of the members to be
 * frozen, in parallel, each under its own timeout; the veto and required
 * decisions; freeze; then the run is bound to the filesystems' freeze cycle
 * until each thaws (FITHAW, the guard, a breach), when thaw goes out. The
 * thaw never waits for a writer: events are queued, answers only recorded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "daemon.h"
#include "quiesce.h"
#include "jsonutil.h"
#include "log.h"
#include "ms.h"
#include "protocol.h"
#include "server.h"
#include "phases-private.h"
#include "writers.h"
#include "xalloc.h"

/* ---- sending ---------------------------------------------------------------- */

static void send_event(qz_wrun *run, wslot *s, qz_phase phase, usec_t now) {
        s->sent[phase] = now;
        if (phase == QZ_PHASE_THAW || phase == QZ_PHASE_ABORT)
                s->closed = true;
        if (!s->w->conn) {
                s->gone = true;
                return;
        }
        qzd_writer_note_sent(s->w, run->id, phase, now);
        json_object *e = json_object_new_object();
        json_object *p = json_object_new_object();
        json_object_object_add(e, "event", json_object_new_string(qz_phase_name(phase)));
        json_object_object_add(p, "freeze", json_object_new_uint64(run->id));
        json_object_object_add(p, "timeout_ms", json_object_new_int64(qz_usec_to_ms(s->w->timeout[phase])));
        json_object_object_add(p, "filesystems", json_object_get(run->fs_json));
        json_object_object_add(e, "parameters", p);
        size_t unread = 0;
        if (qz_conn_send_event(s->w->conn, e, &unread) == -ENOBUFS) {
                /* It does not read: it leaves on the loop's next turn (gone, and
                 * lost if it had freeze), so its events cannot fill quiesced. */
                s->w->dropped = true;
                log_warning("writer %s (pid %d, uid %u) dropped: it left %zu KiB of events unread (%s of "
                            "freeze %" PRIu64 " would not fit)",
                            s->w->name, (int)s->w->pid, (unsigned)s->w->uid, unread / 1024,
                            qz_phase_name(phase), run->id);
        }
}

/* thaw to a writer that got freeze, abort to one that only prepared. */
static void close_slot(qz_wrun *run, wslot *s, usec_t now) {
        if (s->closed)
                return;
        if (s->sent[QZ_PHASE_FREEZE])
                send_event(run, s, QZ_PHASE_THAW, now);
        else if (s->sent[QZ_PHASE_PREPARE])
                send_event(run, s, QZ_PHASE_ABORT, now);
        s->closed = true;
}

/* ---- the run's life ------------------------------------------------------- */

/* The filesystems of a freeze waiting here stay known, with their
 * descriptors (qz_holds_fs_maybe_idle spares them), until it goes on. */
static qz_fs **pin(qz_fs *const *fs, size_t n) {
        qz_fs **copy = malloc(n * sizeof(*copy));
        if (!copy)
                abort(); /* tiny allocation under mlockall */
        for (size_t i = 0; i < n; i++) {
                copy[i] = fs[i];
                fs[i]->pins++;
        }
        return copy;
}

/* Unpinned; idle ones lose their descriptor when nobody is to take them. */
void qz_wrun_unpin(qz_daemon *d, qz_fs **fs, size_t n, bool idle) {
        for (size_t i = 0; i < n; i++) {
                fs[i]->pins--;
                if (idle)
                        qz_holds_fs_maybe_idle(d->holds, fs[i]);
        }
        free(fs);
}

static void run_free(qz_wrun *run) {
        qz_writers *ws = &run->d->writers;
        for (qz_wrun **p = &ws->runs; *p; p = &(*p)->next)
                if (*p == run) {
                        *p = run->next;
                        break;
                }
        for (size_t i = 0; i < run->n; i++) {
                for (unsigned k = 0; k < QZ_PHASE_COUNT; k++)
                        free(run->slot[i].detail[k]);
                qzd_writer_unref(run->slot[i].w);
        }
        for (size_t i = 0; i < run->n_waiters; i++) {
                run->waiters[i].free_arg(run->waiters[i].arg);
                qz_wrun_unpin(run->d, run->waiters[i].fs, run->waiters[i].n, true);
        }
        if (run->req_fs)
                qz_wrun_unpin(run->d, run->req_fs, run->n_req, true);
        free(run->waiters);
        sd_event_source_disable_unref(run->timer);
        json_object_put(run->fs_json);
        json_object_put(run->refusal);
        free(run->slot);
        free(run->devno);
        free(run->bound);
        free(run);
}

/* The freezes that waited for this run try again: its filesystems are
 * freezing now (nested), or thawed after a veto (a run of their own). */
static void wake_waiters(qz_daemon *d, waiter *w, size_t n) {
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < w[i].n; k++)
                        w[i].fs[k]->pins--; /* the gate pins them again if they wait on */
                if (qz_phases_gate(d, w[i].c, w[i].fs, w[i].n, w[i].fn, w[i].arg, w[i].free_arg) == 0)
                        w[i].fn(d, w[i].arg, 0, NULL, NULL);
                free(w[i].fs);
        }
        free(w);
}

/* The run failed (err, msg) or was cancelled (done NULL): everybody asked
 * is released, the requester told, the waiters woken. */
void qz_wrun_end(qz_wrun *run, int err, const char *msg) {
        qz_daemon *d = run->d;
        usec_t now = qz_now();
        for (size_t i = 0; i < run->n; i++)
                close_slot(run, &run->slot[i], now);
        for (size_t i = 0; i < run->n_fs; i++)
                if (run->bound[i]) {
                        qz_fs *fs = qz_holds_find_fs(d->holds, run->devno[i]);
                        if (fs && fs->writers == run)
                                fs->writers = NULL;
                }
        run->state = RUN_OVER;
        if (run->req_fs)
                qz_wrun_unpin(d, run->req_fs, run->n_req, !run->done); /* a requester told below idles them */
        run->req_fs = NULL;
        qz_phases_done_fn done = run->done;
        void *arg = run->arg;
        waiter *w = run->waiters;
        size_t n = run->n_waiters;
        json_object *refusal = run->refusal;
        run->refusal = NULL;
        run->waiters = NULL;
        run->n_waiters = 0;
        run->done = NULL;
        run_free(run);
        if (done)
                done(d, arg, err, msg, refusal);
        json_object_put(refusal);
        wake_waiters(d, w, n);
}

void qz_wrun_unbind(qz_wrun *run, size_t i, const char *why) {
        qz_daemon *d = run->d;
        usec_t now = qz_now();
        run->bound[i] = false;
        run->n_bound--;
        qz_fs *fs = qz_holds_find_fs(d->holds, run->devno[i]);
        if (fs && fs->writers == run)
                fs->writers = NULL;
        for (size_t k = 0; k < run->n; k++) {
                wslot *s = &run->slot[k];
                if (!s->closed && qzd_writer_covers(s->w, run->devno[i]))
                        close_slot(run, s, now);
        }
        log_debug("writers of freeze %" PRIu64 " thawed for %s: %s", run->id, fs ? fs->mountpoint : "?", why);
        if (run->n_bound == 0)
                qz_wrun_end(run, 0, NULL);
}

/* ---- the decisions --------------------------------------------------------- */

static void fail_for(qz_wrun *run, const wslot *s, qz_phase p, bool required) {
        _cleanup_free_ char *why = qz_wslot_reason(s, p);
        int err = s->timed_out[p] ? -ETIMEDOUT : -ECANCELED;
        _cleanup_free_ char *msg =
                xasprintf("%swriter %s (pid %d, uid %u) %s at %s: %s; nothing was frozen",
                          required ? "required " : "", s->w->name, (int)s->w->pid, (unsigned)s->w->uid,
                          s->answer[p] == QZ_ANSWER_VETO ? "vetoed the freeze" : "did not agree",
                          qz_phase_name(p), why);
        log_notice("freeze %" PRIu64 " refused: %s", run->id, msg);
        run->refusal = qz_wslot_json(run, s, qz_now()); /* the error's "writer" */
        qz_wrun_end(run, err, msg);
}

/* s was asked p and may still answer in time (the phase was decided
 * before it did: failed_already). */
static bool pending(const wslot *s, qz_phase p) {
        return s->sent[p] && s->answer[p] == QZ_ANSWER_NONE && !s->timed_out[p] && !s->gone;
}

static void decide_prepare(qz_wrun *run, usec_t now) {
        for (size_t i = 0; i < run->n; i++) {
                wslot *s = &run->slot[i];
                if (s->answer[QZ_PHASE_PREPARE] == QZ_ANSWER_VETO && s->w->may_veto)
                        return fail_for(run, s, QZ_PHASE_PREPARE, false);
        }
        for (size_t i = 0; i < run->n; i++) {
                wslot *s = &run->slot[i];
                if (s->w->required && s->answer[QZ_PHASE_PREPARE] != QZ_ANSWER_OK &&
                    !pending(s, QZ_PHASE_PREPARE))
                        return fail_for(run, s, QZ_PHASE_PREPARE, true);
        }
        run->state = RUN_FREEZE;
        for (size_t i = 0; i < run->n; i++) {
                wslot *s = &run->slot[i];
                if (s->answer[QZ_PHASE_PREPARE] == QZ_ANSWER_OK && !s->gone) {
                        send_event(run, s, QZ_PHASE_FREEZE, now);
                } else {
                        if (s->answer[QZ_PHASE_PREPARE] == QZ_ANSWER_VETO)
                                log_notice("writer %s (uid %u) vetoed freeze %" PRIu64
                                           " (recorded; only root's writers may veto): %s",
                                           s->w->name, (unsigned)s->w->uid, run->id,
                                           s->detail[QZ_PHASE_PREPARE] ? s->detail[QZ_PHASE_PREPARE] : "");
                        close_slot(run, s, now); /* abort: it will not be frozen with the rest */
                }
        }
        qz_wrun_advance(run);
}

static void decide_freeze(qz_wrun *run) {
        for (size_t i = 0; i < run->n; i++) {
                wslot *s = &run->slot[i];
                if (s->w->required && s->answer[QZ_PHASE_FREEZE] != QZ_ANSWER_OK &&
                    !pending(s, QZ_PHASE_FREEZE))
                        return fail_for(run, s, QZ_PHASE_FREEZE, true);
        }
        qz_daemon *d = run->d;
        run->state = RUN_BOUND;
        for (size_t i = 0; i < run->n_fs; i++) {
                qz_fs *fs = qz_holds_find_fs(d->holds, run->devno[i]);
                run->bound[i] = fs != NULL;
                run->n_bound += fs != NULL;
                if (fs)
                        fs->writers = run;
        }
        waiter *w = run->waiters;
        size_t n = run->n_waiters;
        run->waiters = NULL;
        run->n_waiters = 0;
        qz_phases_done_fn done = run->done;
        run->done = NULL;
        qz_wrun_unpin(d, run->req_fs, run->n_req, false); /* done() takes its references now */
        run->req_fs = NULL;
        done(d, run->arg, 0, NULL, NULL); /* the freeze goes on: run may be gone after it */
        wake_waiters(d, w, n);
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        (void)src, (void)usec;
        qz_wrun_advance(userdata);
        return 0;
}

/* Whether the phase's outcome is a failure already, whatever the writers
 * still silent answer: root's veto at prepare, or a required writer's
 * failure, veto, timeout or departure. The freeze fails at once then, and
 * nobody waits for the rest (a silent writer would hold it for its whole
 * timeout). */
static bool failed_already(const qz_wrun *run, qz_phase p) {
        for (size_t i = 0; i < run->n; i++) {
                const wslot *s = &run->slot[i];
                if (!s->sent[p])
                        continue;
                if (p == QZ_PHASE_PREPARE && s->answer[p] == QZ_ANSWER_VETO && s->w->may_veto)
                        return true;
                if (s->w->required && (s->timed_out[p] || s->gone ||
                                       (s->answer[p] != QZ_ANSWER_NONE && s->answer[p] != QZ_ANSWER_OK)))
                        return true;
        }
        return false;
}

/* Moves the run on once every writer asked in this phase answered, timed
 * out or went, or as soon as the phase has failed; otherwise arms the
 * timer for the next timeout. */
void qz_wrun_advance(qz_wrun *run) {
        qz_phase p = run->state == RUN_PREPARE ? QZ_PHASE_PREPARE : QZ_PHASE_FREEZE;
        usec_t now = qz_now(), next = QZ_USEC_INFINITY;
        for (size_t i = 0; i < run->n; i++) {
                wslot *s = &run->slot[i];
                if (!s->sent[p] || s->answer[p] != QZ_ANSWER_NONE || s->timed_out[p] || s->gone)
                        continue;
                usec_t at = s->sent[p] + s->w->timeout[p];
                if (now >= at) {
                        s->timed_out[p] = true;
                        qzd_writer_note_timeout(s->w, run->id, p);
                        log_notice("writer %s (pid %d) did not answer %s of freeze %" PRIu64 " in time",
                                   s->w->name, (int)s->w->pid, qz_phase_name(p), run->id);
                } else if (at < next) {
                        next = at;
                }
        }
        if (next != QZ_USEC_INFINITY && !failed_already(run, p)) {
                if (!run->timer) {
                        if (sd_event_add_time(run->d->event, &run->timer, CLOCK_BOOTTIME, next, 1000,
                                              on_timer, run) < 0)
                                abort(); /* a timer under mlockall: nothing sane to do without it */
                } else {
                        sd_event_source_set_time(run->timer, next);
                        sd_event_source_set_enabled(run->timer, SD_EVENT_ONESHOT);
                }
                return;
        }
        if (run->timer)
                sd_event_source_set_enabled(run->timer, SD_EVENT_OFF);
        if (p == QZ_PHASE_PREPARE)
                decide_prepare(run, now);
        else
                decide_freeze(run);
}

/* ---- the daemon's entry points ------------------------------------------- */

static bool run_covers(const qz_wrun *run, dev_t devno) {
        for (size_t i = 0; i < run->n_fs; i++)
                if (run->devno[i] == devno)
                        return true;
        return false;
}

static void add_waiter(waiter **list, size_t *n_list, qz_conn *c, qz_fs *const *fs, size_t n,
                       qz_phases_done_fn fn, void *arg, void (*free_arg)(void *)) {
        waiter *w = realloc(*list, (*n_list + 1) * sizeof(*w));
        if (!w)
                abort(); /* tiny allocation under mlockall */
        qz_fs **copy = pin(fs, n);
        *list = w;
        w[(*n_list)++] = (waiter){c, fn, arg, free_arg, copy, n};
}

static bool covered(const qz_writers *ws, dev_t devno) {
        for (qzd_writer *w = ws->first; w; w = w->next)
                if (qzd_writer_covers(w, devno))
                        return true;
        return false;
}

int qz_phases_gate(qz_daemon *d, qz_conn *c, qz_fs *const *fs, size_t n, qz_phases_done_fn done, void *arg,
                   void (*free_arg)(void *arg)) {
        qz_writers *ws = &d->writers;
        if (!ws->n && !ws->runs)
                return 0; /* the freeze path without writers: this check only */
        for (qz_wrun *run = ws->runs; run; run = run->next)
                for (size_t i = 0; i < n && run->state < RUN_BOUND; i++)
                        if (run_covers(run, fs[i]->devno)) {
                                add_waiter(&run->waiters, &run->n_waiters, c, fs, n, done, arg, free_arg);
                                return 1;
                        }
        /* A member still thawing: its writers were just sent thaw, and this
         * freeze will FIFREEZE it again once FITHAW ends. They are asked then,
         * in a run of their own, not skipped as if it were a nested freeze. */
        for (size_t i = 0; i < n; i++)
                if (fs[i]->state == QZ_FS_THAWING && covered(ws, fs[i]->devno)) {
                        log_debug("a freeze of %s waits for its thaw to end, then asks its writers",
                                  fs[i]->mountpoint);
                        add_waiter(&ws->thawing, &ws->n_thawing, c, fs, n, done, arg, free_arg);
                        return 1;
                }
        /* The members this freeze will FIFREEZE, and their writers. */
        size_t n_fs = 0, n_w = 0;
        dev_t devno[QZ_MAX_TARGETS];
        for (size_t i = 0; i < n; i++) {
                if (fs[i]->state != QZ_FS_THAWED)
                        continue; /* frozen already: its writers belong to that freeze */
                for (qzd_writer *w = ws->first; w; w = w->next)
                        if (qzd_writer_covers(w, fs[i]->devno)) {
                                devno[n_fs++] = fs[i]->devno;
                                break;
                        }
        }
        if (n_fs == 0)
                return 0;
        for (qzd_writer *w = ws->first; w; w = w->next)
                for (size_t i = 0; i < n_fs; i++)
                        if (qzd_writer_covers(w, devno[i])) {
                                n_w++;
                                break;
                        }
        qz_wrun *run = calloc(1, sizeof(*run));
        if (!run || !(run->slot = calloc(n_w, sizeof(*run->slot))) ||
            !(run->devno = calloc(n_fs, sizeof(*run->devno))) || !(run->bound = calloc(n_fs, sizeof(bool))))
                abort(); /* small allocations under mlockall */
        run->id = ++ws->next_freeze_id;
        run->d = d;
        run->requester = c;
        run->done = done;
        run->arg = arg;
        run->free_arg = free_arg;
        run->n_fs = n_fs;
        run->req_fs = pin(fs, n);
        run->n_req = n;
        memcpy(run->devno, devno, n_fs * sizeof(*devno));
        run->fs_json = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < n_fs; k++)
                        if (fs[i]->devno == devno[k]) {
                                json_object *o = json_object_new_object();
                                json_object_object_add(o, "id", json_object_new_string(fs[i]->id));
                                json_object_object_add(o, "mountpoint",
                                                       json_object_new_string(fs[i]->mountpoint));
                                json_object_array_add(run->fs_json, o);
                        }
        for (qzd_writer *w = ws->first; w; w = w->next)
                for (size_t i = 0; i < n_fs; i++)
                        if (qzd_writer_covers(w, devno[i])) {
                                run->slot[run->n++].w = qzd_writer_ref(w);
                                break;
                        }
        run->next = ws->runs;
        ws->runs = run;
        log_info("freeze %" PRIu64 ": asking %zu writer(s) to prepare", run->id, run->n);
        usec_t now = qz_now();
        for (size_t i = 0; i < run->n; i++)
                send_event(run, &run->slot[i], QZ_PHASE_PREPARE, now);
        qz_wrun_advance(run);
        return 1;
}

void qz_phases_thaw_ended(qz_daemon *d, dev_t devno) {
        qz_writers *ws = &d->writers;
        waiter *ready = NULL;
        size_t n_ready = 0;
        for (size_t i = 0; i < ws->n_thawing;) {
                waiter *w = &ws->thawing[i];
                bool mine = false;
                for (size_t k = 0; k < w->n && !mine; k++)
                        mine = w->fs[k]->devno == devno;
                if (!mine) {
                        i++;
                        continue;
                }
                waiter *r = realloc(ready, (n_ready + 1) * sizeof(*r));
                if (!r)
                        abort(); /* tiny allocation under mlockall */
                ready = r;
                ready[n_ready++] = *w;
                *w = ws->thawing[--ws->n_thawing];
        }
        if (ws->n_thawing == 0) {
                free(ws->thawing);
                ws->thawing = NULL;
        }
        if (n_ready)
                wake_waiters(d, ready, n_ready); /* a member still thawing: they wait again */
}

void qz_phases_free_all(qz_daemon *d) {
        qz_writers *ws = &d->writers;
        for (size_t i = 0; i < ws->n_thawing; i++) {
                ws->thawing[i].free_arg(ws->thawing[i].arg);
                qz_wrun_unpin(d, ws->thawing[i].fs, ws->thawing[i].n, false);
        }
        free(ws->thawing);
        ws->thawing = NULL;
        ws->n_thawing = 0;
        while (d->writers.runs) {
                qz_wrun *run = d->writers.runs;
                if (run->done && run->free_arg)
                        run->free_arg(run->arg);
                run->done = NULL;
                qz_wrun_end(run, 0, NULL);
        }
}
