/* SPDX-License-Identifier: GPL-2.0-or-later */
/* glue.c - between holds.c and the freezer: the callbacks through which
 * holds.c starts freezes and thaws, answers a group freeze and reports a
 * hold gone (qz_daemon_holds_ops), and the freezer's reports carried back
 * (qz_daemon_freeze_done): FIFREEZE's answer as a message naming the
 * filesystem, the probes and the breaches they find, FITHAW's end.
 */
#include "glue.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "confirm.h"
#include "daemon.h"
#include "jsonutil.h"
#include "log.h"
#include "protocol.h"
#include "reply.h"
#include "server.h"
#include "xalloc.h"

/* ---- holds.c's requests, carried to the freezer and the clients ------------- */

static void cb_start_freeze(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        log_debug("freezing %s %s (mounted at %s)", fs->fstype, fs->id, fs->mountpoint);
        int r = qz_freezer_start(d->freezer, fs, true);
        if (r < 0)
                log_error("cannot start the freeze of %s: %s", fs->mountpoint, strerror(-r));
}

static void cb_preflush(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        int r = qz_freezer_preflush(d->freezer, fs);
        if (r < 0)
                log_debug("no early pre-flush of %s: %s", fs->mountpoint, strerror(-r));
}

static void cb_start_thaw(void *ud, qz_fs *fs) {
        qz_daemon *d = ud;
        int r = qz_freezer_start(d->freezer, fs, false);
        if (r < 0)
                log_error("cannot start the thaw of %s: %s (the guard thaws it at its hard deadline)",
                          fs->mountpoint, strerror(-r));
}

static void cb_op_done(void *ud, qz_op *op, qzd_hold *hold, int err, const char *msg, const char *path) {
        qz_daemon *d = ud;
        qz_conn *c = op->userdata;
        if (hold) {
                d->holds_granted++;
                json_object *p = json_object_new_object();
                json_object_object_add(p, "hold", qz_hold_json(hold, &d->writers, qz_now()));
                qz_reply_ok(c, p);
                log_debug("hold %" PRIu64 " granted to pid %d uid %u on %zu filesystem(s), first %s%s",
                          hold->id, (int)hold->pid, (unsigned)hold->uid, hold->n_fs, hold->fs[0]->mountpoint,
                          hold->detached ? " (detached)" : "");
        } else {
                qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, -err, path, "%s", msg));
                log_notice("freeze for pid %d failed: %s", (int)op->pid, msg);
        }
        if (d->writers.runs)
                qz_phases_op_done(d, c, hold != NULL);
        qz_conn_end(c);
}

static void cb_hold_gone(void *ud, const qzd_hold *hold, const qz_gone *gone) {
        (void)ud;
        char buf[96];
        /* Routine releases are debug (a nested freeze costs no log line, which
         * matters at thousands a second); a deadline or the ceiling is news. */
        qz_log(qz_gone_is_news(gone->why) ? LOG_NOTICE : LOG_DEBUG, "hold %" PRIu64 " (pid %d) %s", hold->id,
               (int)hold->pid, qz_gone_text(gone, buf, sizeof(buf)));
}

static void cb_fs_idle(void *ud, qz_fs *fs) {
        (void)ud;
        if (fs->ioctl_fd >= 0) {
                close(fs->ioctl_fd);
                fs->ioctl_fd = -1;
        }
}

const qz_holds_ops qz_daemon_holds_ops = {
        .start_freeze = cb_start_freeze,
        .start_thaw = cb_start_thaw,
        .preflush = cb_preflush,
        .op_done = cb_op_done,
        .hold_gone = cb_hold_gone,
        .fs_idle = cb_fs_idle,
};

/* ---- the freezer's reports, carried back to holds.c ------------------------- */

/* "ext4 7:1 (mounted at /srv/data)", malloc'd (aborts without memory, under mlockall) */
static char *fs_name(const qz_fs *fs) {
        return xasprintf("%s %s (mounted at %s)", fs->fstype, fs->id, fs->mountpoint);
}

/* A breach of fs's freeze: recorded on fs and on every hold on it, logged. */
static void breach(qz_daemon *d, qz_fs *fs, const char *sentence, usec_t at) {
        qz_fs_proof *p = &fs->proof;
        p->held = false;
        p->breaches++;
        p->breach_at = at;
        free(p->breach);
        p->breach = xstrdup(sentence);
        log_warning("%s", sentence);
        for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                for (size_t i = 0; i < h->n_fs; i++)
                        if (h->fs[i] == fs)
                                log_warning("hold %" PRIu64
                                            " (pid %d) on %s is broken: its freeze did not hold",
                                            h->id, (int)h->pid, fs->mountpoint);
        qz_holds_breach(d->holds, fs, sentence, at);
        qz_phases_fs_thawed(d, fs, "its freeze was broken"); /* the writers' promise is void: let them go */
}

/* What a probe found (proof.h). */
static void note_probe(qz_daemon *d, qz_fs *fs, const qz_freeze_result *res) {
        qz_fs_proof *p = &fs->proof;
        if (!res->probe_at)
                return;
        p->last_probe_at = res->probe_at;
        qz_probe_answer(&res->probe, p->last_answer, sizeof(p->last_answer));
        if (res->probe.have_sectors)
                p->sectors_last = res->probe.sectors;
        fs->foreign = !res->ours;
        if (qz_verdict_is_breach(res->verdict)) {
                _cleanup_free_ char *name = fs_name(fs);
                int64_t after_ms = (int64_t)((res->probe_at - fs->freeze_start) / 1000);
                _cleanup_free_ char *sentence = qz_proof_describe(
                        name, res->verdict, after_ms, p->device[0] ? p->device : NULL,
                        p->have_sectors && res->probe.have_sectors, p->sectors_last - p->sectors_base);
                breach(d, fs, sentence, res->probe_at);
        } else if (res->verdict == QZ_VERDICT_UNKNOWN) {
                _cleanup_free_ char *name = fs_name(fs);
                log_notice("the probe of %s could not tell whether its freeze holds: FIFREEZE answered %s",
                           name, p->last_answer);
        }
}

/* The keeper is done: FITHAW's answer (or the freeze left to its owner). */
static void thawed(qz_daemon *d, qz_fs *fs, const qz_freeze_result *res) {
        int err = res->err;
        usec_t end = res->end;
        note_probe(d, fs, res); /* the last probe, before FITHAW */
        if (res->thaw_ioctl && err == -EINVAL) {
                _cleanup_free_ char *name = fs_name(fs);
                _cleanup_free_ char *sentence =
                        xasprintf("the freeze of %s was lifted by another process: FITHAW found it thawed "
                                  "at release, %" PRId64 " ms after it began",
                                  name, (int64_t)((end - fs->freeze_start) / 1000));
                breach(d, fs, sentence, end);
        } else if (err) {
                _cleanup_free_ char *name = fs_name(fs);
                log_warning("FITHAW of %s failed: %s", name, strerror(-err));
        } else if (!res->thaw_ioctl) {
                _cleanup_free_ char *name = fs_name(fs);
                log_notice("left the freeze of %s in place at release: it is another process's, "
                           "not quiesce's (fsfreeze -u %s releases it)",
                           name, fs->mountpoint);
        }
        qz_phases_fs_thawed(d, fs, "thawed"); /* after FITHAW; nothing waits for their answers */
        qz_holds_thaw_done(d->holds, fs, err, end);
        log_info("thawed %s %s (mounted at %s): writes were blocked for %" PRId64 " ms%s", fs->fstype, fs->id,
                 fs->mountpoint, (int64_t)(fs->last_stall / 1000),
                 fs->proof.held ? "" : "; its freeze did not hold throughout (see the breach above)");
        qz_confirm_settle(d, fs);
        if (d->writers.n_thawing)
                qz_phases_thaw_ended(d, fs->devno); /* freezes that waited for this thaw to end */
        qz_holds_prune(d->holds, 32);
}

/* Why FIFREEZE failed, for the client (err < 0), naming the filesystem. */
static char *freeze_error(const qz_fs *fs, int err, const char *dm_name) {
        if (err == -EBUSY && dm_name && dm_name[0])
                return xasprintf("%s %s (mounted at %s) lies on device-mapper device %s, which is suspended: "
                                 "device-mapper holds its freeze (dmsetup resume releases it); quiesce "
                                 "takes and thaws nothing",
                                 fs->fstype, fs->id, fs->mountpoint, dm_name);
        if (err == -EBUSY)
                return xasprintf("%s %s (mounted at %s) is already frozen by another tool (not quiesce, e.g. "
                                 "fsfreeze -f); leaving that freeze alone",
                                 fs->fstype, fs->id, fs->mountpoint);
        if (err == -EOPNOTSUPP || err == -ENOTTY)
                return xasprintf("%s %s (mounted at %s) does not support freezing", fs->fstype, fs->id,
                                 fs->mountpoint);
        if (err == -ENOLINK)
                return xasprintf("%s %s (mounted at %s): the guard process is gone; refusing to freeze "
                                 "without it",
                                 fs->fstype, fs->id, fs->mountpoint);
        return xasprintf("%s %s (mounted at %s): FIFREEZE failed: %s", fs->fstype, fs->id, fs->mountpoint,
                         strerror(-err));
}

void qz_daemon_freeze_done(void *ud, qz_fs *fs, const qz_freeze_result *res) {
        qz_daemon *d = ud;
        if (res->kind == QZ_REPORT_PROBE) {
                note_probe(d, fs, res);
                qz_confirm_answered(d, fs, res->probe_seq);
                return;
        }
        if (res->kind == QZ_REPORT_THAWED) {
                thawed(d, fs, res);
                return;
        }
        int err = res->err;
        usec_t start = res->start, end = res->end;
        if (!err) {
                log_info("froze %s %s (mounted at %s) in %" PRIu64 " ms, after a %" PRIu64 " ms pre-flush%s",
                         fs->fstype, fs->id, fs->mountpoint, (end - start) / 1000, res->preflush_usec / 1000,
                         res->throttled ? " (writers throttled)" : "");
                free(fs->proof.breach); /* a new cycle: its own proof */
                fs->proof = (qz_fs_proof){.have_sectors = res->have_sectors,
                                          .sectors_base = res->sectors_base,
                                          .sectors_last = res->sectors_base,
                                          .held = true};
                snprintf(fs->proof.device, sizeof(fs->proof.device), "%s", res->device ? res->device : "");
                qz_holds_freeze_done(d->holds, fs, 0, "", start, end);
                return;
        }
        _cleanup_free_ char *msg = freeze_error(fs, err, res->detail);
        qz_holds_freeze_done(d->holds, fs, err == -ENOTTY ? -EOPNOTSUPP : err, msg, start, end);
}
