/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run.c - one run of a job, step by step over one qz_job_run: a free name,
 * the snapshot and its backup (in process, through the snapshot and backup
 * libraries), retention, the state file, the metrics, the journal entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "mkdirp.h"
#include "prune.h"
#include "jobrun.h"
#include "template.h"
#include "xalloc.h"

static void say(const qz_job_run_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const qz_job_run_opts *o, const char *fmt, ...) {
        if (!o->msg)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = xvasprintf(fmt, ap);
        va_end(ap);
        o->msg(o->userdata, s);
}

void qz_job_snapshot_opts(const qz_job *j, const char *socket, const char *name, qz_snapshot_opts *so) {
        qz_snapshot_opts_init(so);
        so->paths = (const char *const *)j->paths;
        so->n_paths = j->n_paths;
        so->provider = j->provider;
        so->exec_cmd = j->exec_cmd;
        so->exec_delete = j->exec_delete;
        so->lvm_size = j->lvm_size;
        if (j->exec_timeout_ms)
                so->exec_timeout_ms = j->exec_timeout_ms;
        if (j->timeout_ms)
                so->timeout_ms = j->timeout_ms;
        so->name = name;
        so->job = j->name;
        so->hooks_dir = j->hooks_dir;
        if (j->hook_timeout_ms)
                so->hook_timeout_ms = j->hook_timeout_ms;
        so->store = j->store;
        so->socket = socket;
        so->no_freeze = j->no_freeze;
        so->allow_crash_consistent = j->allow_crash_consistent;
        so->writers = (const char *const *)j->writers;
        so->n_writers = j->n_writers;
}

char *qz_job_archive_path(const qz_job *j, const char *snapshot) {
        return xasprintf("%s/%s.%s", j->archive_dir, snapshot, j->archive_format);
}

int64_t qz_job_count_snapshots(const qz_job *j) {
        _cleanup_free_ char *store = qz_store_dir(j->store);
        qz_manifest **v = NULL;
        size_t n = 0;
        int r = qz_manifest_list(store, &v, &n, NULL);
        if (r < 0)
                return r;
        int64_t k = 0;
        for (size_t i = 0; i < n; i++)
                k += qz_job_owns(j, v[i]);
        qz_manifest_list_free(v, n);
        return k;
}

/* ---- 1. a name: NAME-YYYYMMDDTHHMMSSZ, or its first free -2, -3 ... ---- */

/* Taken: by a manifest in the store, or (archive target) by an archive or its
 * sidecar in archive-dir: a snapshot deleted after its backup (keep-snapshot
 * = no) leaves its name free in the store, not in the target directory. */
static bool name_taken(const qz_job *j, const char *store, const char *name) {
        if (qz_manifest_exists(store, name))
                return true;
        if (j->target != QZ_JOB_TARGET_ARCHIVE)
                return false;
        _cleanup_free_ char *archive = qz_job_archive_path(j, name);
        _cleanup_free_ char *sidecar = xasprintf("%s" QZ_ARCHIVE_SIDECAR_SUFFIX, archive);
        return access(archive, F_OK) == 0 || access(sidecar, F_OK) == 0;
}

static void pick_name(const qz_job *j, qz_job_run *run) {
        _cleanup_free_ char *store = qz_store_dir(j->store);
        char base[QZ_SNAPSHOT_NAME_MAX + 1];
        qz_job_snapshot_base(j, (time_t)run->started, base, sizeof(base));
        run->snapshot_name = xstrdup(base);
        for (unsigned k = 2; name_taken(j, store, run->snapshot_name) && k < 1000; k++) {
                free(run->snapshot_name);
                run->snapshot_name = xasprintf("%s-%u", base, k);
        }
}

/* A snapshot not made because quiesced refused its freeze for a writer
 * (root's veto, a required writer's failure): the snapshot's report names
 * that writer with its answers (qz_snap_writer_refusal); kept for the
 * judgement and the state file. */
static void note_refusal(qz_job_run *run, const qz_manifest *unmade) {
        const char *name = NULL;
        char *why = qz_snap_writer_refusal(unmade, &name);
        if (!why || run->freeze_refusal) {
                free(why);
                return;
        }
        run->freeze_refusal = why;
        run->refused_by = xstrdup(name);
}

/* ---- 2. the job's writers: registered now, or the run does not start ---- */

static int check_writers(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run) {
        if (!j->n_writers)
                return 0;
        run->n_writers = j->n_writers;
        int r = qz_job_writers_lookup(j, o->socket, &run->writers);
        if (r < 0)
                say(o,
                    "job %s: cannot tell whether its writers are registered (%s); not starting: nothing was "
                    "frozen",
                    j->name, run->writers[0].where);
        for (size_t i = 0; r == 0 && i < run->n_writers; i++)
                if (run->writers[i].registered != 1)
                        say(o, "job %s: %s; not starting: nothing was frozen", j->name,
                            run->writers[i].where);
        for (size_t i = 0; r == 0 && i < run->n_writers; i++)
                if (run->writers[i].registered != 1)
                        r = -ESRCH;
        run->writers_refused = r < 0;
        return r;
}

/* After the snapshot: a named writer that did not acknowledge its freeze
 * makes it not application-consistent, and the run fails unless the job
 * accepts less than it asked for (allow-crash-consistent), as it does for a
 * crash-consistent snapshot. r: the run so far (a backup that refused the
 * snapshot said why already). */
static int judge_writers(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run, int r) {
        if (!run->n_writers)
                return r;
        if (!run->snapshot) {
                /* no snapshot: a named writer that made quiesced refuse the freeze did not acknowledge it */
                for (size_t i = 0; run->refused_by && i < run->n_writers; i++)
                        if (strcmp(run->writers[i].name, run->refused_by) == 0) {
                                free(run->writers[i].reason);
                                run->writers[i].reason = xstrdup(run->freeze_refusal);
                                run->writers[i].judged = true;
                                run->writers[i].acknowledged = false;
                                run->writers_unacked++;
                        }
                return r;
        }
        run->writers_unacked = qz_job_writers_judge(run->writers, run->n_writers, run->snapshot);
        for (size_t i = 0; r == 0 && i < run->n_writers; i++)
                if (!run->writers[i].acknowledged)
                        say(o, "job %s: %s: snapshot %s is %s, not application-consistent; %s", j->name,
                            run->writers[i].reason, run->snapshot->name, qz_label_name(run->label),
                            j->allow_crash_consistent
                                    ? "accepted (allow-crash-consistent = yes)"
                                    : "the run fails (allow-crash-consistent = yes accepts it)");
        return r == 0 && run->writers_unacked && !j->allow_crash_consistent ? -EIO : r;
}

/* ---- 3. the snapshot, and its backup ---- */

static int snapshot_only(const qz_job *j, const qz_job_run_opts *o, const qz_snapshot_opts *so,
                         qz_job_run *run) {
        qz_snapshot_opts s = *so;
        s.interrupted = bk_interrupt_flag();
        int r = bk_cleanup_init();
        if (r < 0)
                return r;
        r = qz_snapshot_take(&s, &run->snapshot);
        if (r < 0 && run->snapshot && !run->snapshot->file) {
                note_refusal(run, run->snapshot);
                qz_manifest_free(run->snapshot);
                run->snapshot = NULL;
        }
        return r;
}

static int with_backup(const qz_job *j, const qz_job_run_opts *o, const qz_snapshot_opts *so,
                       qz_job_run *run) {
        for (size_t i = 0; i < j->n_exec_env; i++) {
                /* the command inherits our environment: RESTIC_PASSWORD_FILE ... */
                _cleanup_free_ char *name = strndup(j->exec_env[i], strcspn(j->exec_env[i], "="));
                if (!name || setenv(name, strchr(j->exec_env[i], '=') + 1, 1) < 0)
                        return -ENOMEM;
        }
        if (j->target == QZ_JOB_TARGET_ARCHIVE) {
                int r = qz_mkdir_p(j->archive_dir, 0700, NULL);
                if (r < 0) {
                        say(o, "job %s: archive-dir %s: %s", j->name, j->archive_dir, strerror(-r));
                        return r;
                }
                run->archive = qz_job_archive_path(j, run->snapshot_name);
        }
        struct bk_backup_opts bo = {.snapshot = so,
                                    .store = j->store,
                                    .to = run->archive,
                                    .exec = j->exec,
                                    .n_exec = j->n_exec,
                                    .keep_snapshot = j->keep_snapshot,
                                    .no_warnings = o->json,
                                    .exec_stdout_to_stderr = o->json,
                                    .progress = false,
                                    .msg = o->msg,
                                    .userdata = o->userdata};
        int r = bk_backup_run(&bo, &run->backup);
        run->backed_up = r == 0;
        /* the report's copy (the backup keeps its own): the one backed up, or refused */
        const qz_manifest *made = run->backup.snapshot ? run->backup.snapshot : run->backup.refused;
        if (made) {
                _cleanup_free_ char *text = qz_manifest_to_json(made);
                if (text && qz_manifest_from_json(text, &run->snapshot) == 0 && made->file)
                        run->snapshot->file = xstrdup(made->file);
        }
        if (run->backup.unmade)
                note_refusal(run, run->backup.unmade);
        run->signal = run->backup.signal;
        return r;
}

/* ---- 4. retention ---- */

static void retention(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run) {
        run->pruned = -1;
        run->pruned_archives = -1;
        if (!j->has_retention)
                return;
        _cleanup_free_ char *store = qz_store_dir(j->store);
        qz_prune_result res = {0};
        int r = qz_snapshot_prune(store, j->name, &j->retention, false, o->msg, o->userdata, &res);
        if (r == 0 || r == -EIO) {
                run->pruned = (int)res.n_removed;
                run->prune_failed += (int)res.n_failed;
                qz_prune_result_done(&res);
        } else
                say(o, "job %s: retention over %s: %s", j->name, store, strerror(-r));
        if (j->target != QZ_JOB_TARGET_ARCHIVE)
                return;
        memset(&res, 0, sizeof(res));
        r = qz_archive_prune(j->archive_dir, j->name, &j->retention, false, o->msg, o->userdata, &res);
        if (r == 0 || r == -EIO) {
                run->pruned_archives = (int)res.n_removed;
                run->prune_failed += (int)res.n_failed;
                qz_prune_result_done(&res);
        } else
                say(o, "job %s: retention over the archives in %s: %s", j->name, j->archive_dir,
                    strerror(-r));
}

/* ---- 5. what is left behind: state, metrics, journal ---- */

static void record(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run) {
        _cleanup_free_ char *store = qz_store_dir(j->store);
        qz_job_state st;
        int r = qz_job_state_load(store, j->name, &st);
        if (r < 0) {
                _cleanup_free_ char *path = qz_job_state_path(store, j->name);
                say(o, "job %s: %s: unreadable state, starting afresh: %s", j->name, path, strerror(-r));
                memset(&st, 0, sizeof(st));
        }
        st.last_run = run->started;
        st.last_ok = run->ok;
        free(st.last_writer_failure);
        st.last_writer_failure = NULL;
        for (size_t i = 0; i < run->n_writers && !st.last_writer_failure; i++)
                if (run->writers[i].registered != 1)
                        st.last_writer_failure = xstrdup(run->writers[i].where);
                else if (run->writers[i].judged && !run->writers[i].acknowledged)
                        st.last_writer_failure = xstrdup(run->writers[i].reason);
        if (!st.last_writer_failure && run->freeze_refusal) /* a writer the job does not name */
                st.last_writer_failure = xstrdup(run->freeze_refusal);
        free(st.last_snapshot);
        st.last_snapshot = run->snapshot ? xstrdup(run->snapshot->name) : NULL;
        if (run->ok)
                st.last_success = run->started;
        if (run->ok && run->consistent) {
                st.last_consistent = run->started;
                free(st.last_consistent_snapshot);
                free(st.last_consistent_label);
                free(st.last_target);
                st.last_consistent_snapshot = xstrdup(run->snapshot->name);
                st.last_consistent_label = xstrdup(qz_label_name(run->label));
                st.last_target = run->archive                      ? xstrdup(run->archive)
                                 : j->target == QZ_JOB_TARGET_EXEC ? qz_strv_join(j->exec, j->n_exec, " ")
                                                                   : NULL;
        }
        r = qz_job_state_save(store, j->name, &st);
        if (r < 0)
                say(o, "job %s: cannot write its state in %s: %s", j->name, store, strerror(-r));
        run->kept = qz_job_count_snapshots(j);
        if (!j->metrics_dir || (*j->metrics_dir && strcmp(j->metrics_dir, "none") != 0)) {
                _cleanup_free_ char *text = qz_job_metrics_text(j, run, &st);
                _cleanup_free_ char *err = NULL;
                if (qz_job_metrics_write(j, text, &run->metrics_file, &err) < 0)
                        say(o, "job %s: metrics not written: %s", j->name, err);
        }
        r = qz_job_journal(j, run);
        if (r < 0)
                say(o, "job %s: journal: %s", j->name, strerror(-r));
        qz_job_state_done(&st);
}

int qz_job_run_once(const qz_job *j, const qz_job_run_opts *o, qz_job_run *run) {
        memset(run, 0, sizeof(*run));
        run->pruned = -1;
        run->pruned_archives = -1;
        run->kept = -1;
        run->started = (int64_t)time(NULL);
        usec_t t0 = qz_now();
        pick_name(j, run);
        qz_snapshot_opts so;
        qz_job_snapshot_opts(j, o->socket, run->snapshot_name, &so);
        so.msg = o->msg;
        so.userdata = o->userdata;
        int r = check_writers(j, o, run);
        if (r == 0)
                r = j->target == QZ_JOB_TARGET_NONE ? snapshot_only(j, o, &so, run)
                                                    : with_backup(j, o, &so, run);
        if (!run->signal)
                run->signal = bk_interrupted();
        if (run->snapshot) {
                run->label = qz_manifest_proven_label(run->snapshot, NULL);
                run->consistent = run->label != QZ_LABEL_CRASH;
        }
        if (r == 0 && run->snapshot && qz_manifest_incomplete(run->snapshot))
                r = -EIO;
        r = judge_writers(j, o, run, r);
        run->ok = r == 0 && run->snapshot;
        if (run->ok)
                retention(j, o, run);
        run->duration_ms = (int64_t)((qz_now() - t0) / USEC_PER_MSEC);
        record(j, o, run);
        return run->ok ? 0 : r < 0 ? r : -EIO;
}

void qz_job_run_done(qz_job_run *run) {
        free(run->snapshot_name);
        qz_manifest_free(run->snapshot);
        bk_backup_done(&run->backup);
        free(run->archive);
        free(run->metrics_file);
        qz_job_writers_free(run->writers, run->n_writers);
        free(run->freeze_refusal);
        free(run->refused_by);
        memset(run, 0, sizeof(*run));
}
