/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prune.c - `quiesce snapshot prune` (prune.h): each snapshot of the store
 * classified (the proven label, incomplete or storage gone, a run still
 * holding its name, its pins), the policy decided per job (retention.c),
 * and the removals done in order through qz_snapshot_delete.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "pin.h"
#include "prune.h"
#include "xalloc.h"

bool qz_prune_parse_time(const char *created, time_t *t) {
        struct tm tm = {0};
        const char *end = created ? strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
        if (!end || *end)
                return false;
        *t = timegm(&tm);
        return true;
}

void qz_prune_result_done(qz_prune_result *r) {
        for (size_t i = 0; i < r->n; i++) {
                qz_prune_entry *e = &r->v[i];
                free(e->name);
                free(e->created);
                free(e->job);
                free(e->label);
                free(e->pinned);
                free(e->error);
                free(e->why);
                free(e->path);
                free(e->snapshot);
        }
        free(r->v);
        free(r->policy);
        memset(r, 0, sizeof(*r));
}

static bool same_job(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

/* What breaks a tie of time: the snapshot's name (an archive's from its sidecar). */
static const char *tie_key(const qz_prune_entry *e) {
        return e->snapshot ? e->snapshot : e->name;
}

/* Newest first; the same second: the greater snapshot name, its numbers as
 * numbers (NAME-2 after NAME, NAME-10 after NAME-9), then the file name:
 * a total order, so the decision does not depend on readdir's order. */
static int newest_first(const void *a, const void *b) {
        const qz_prune_entry *x = a, *y = b;
        if (x->time != y->time)
                return x->time > y->time ? -1 : 1;
        int c = strverscmp(tie_key(x), tie_key(y));
        return c ? -c : -strcmp(x->name, y->name);
}

static int removal_order(const void *a, const void *b, void *arg) {
        const qz_prune_entry *v = arg, *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
        bool bx = x->kind != QZ_RETAIN_CONSISTENT, by = y->kind != QZ_RETAIN_CONSISTENT;
        if (bx != by)
                return bx ? -1 : 1;
        return -newest_first(x, y);
}

int qz_prune_decide(const qz_retention *policy, qz_prune_result *ret) {
        if (qz_retention_empty(policy))
                return -EINVAL;
        free(ret->policy);
        ret->policy = qz_retention_describe(policy);
        size_t n = ret->n;
        if (n)
                qsort(ret->v, n, sizeof(*ret->v), newest_first);
        qz_retention_item *items = calloc(n ? n : 1, sizeof(*items));
        size_t *idx = calloc(n ? n : 1, sizeof(*idx));
        bool *done = calloc(n ? n : 1, sizeof(*done));
        if (!items || !idx || !done)
                abort();
        /* one group per job: restic's --group-by */
        for (size_t g = 0; g < n; g++) {
                if (done[g])
                        continue;
                size_t m = 0;
                for (size_t i = g; i < n; i++)
                        if (!done[i] && same_job(ret->v[i].job, ret->v[g].job)) {
                                const qz_prune_entry *e = &ret->v[i];
                                items[m] = (qz_retention_item){.id = tie_key(e),
                                                               .time = e->time,
                                                               .kind = e->kind,
                                                               .why = e->why,
                                                               .pinned_by = e->pinned};
                                idx[m++] = i;
                                done[i] = true;
                        }
                int r = qz_retention_apply(policy, items, m);
                if (r < 0)
                        abort(); /* not empty: checked above */
                for (size_t k = 0; k < m; k++) {
                        qz_prune_entry *e = &ret->v[idx[k]];
                        e->keep = items[k].keep;
                        snprintf(e->reason, sizeof(e->reason), "%s", items[k].reason);
                }
        }
        /* the removals, in the order they are done */
        ret->n_keep = ret->n_remove = 0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                ret->v[i].order = 0;
                if (ret->v[i].keep)
                        ret->n_keep++;
                else
                        idx[m++] = i;
        }
        ret->n_remove = m;
        qsort_r(idx, m, sizeof(*idx), removal_order, ret->v);
        for (size_t k = 0; k < m; k++)
                ret->v[idx[k]].order = (unsigned)k + 1;
        free(items);
        free(idx);
        free(done);
        return 0;
}

/* A run still holds the reservation of name (a manifest written a moment
 * before its run ends): its pid, or 0 when none holds it. */
static long reserved_by(const char *store, const char *name) {
        _cleanup_free_ char *path = qz_reservation_path(store, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0)
                return 0;
        char buf[32];
        ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[k > 0 ? k : 0] = '\0';
        long pid = strtol(buf, NULL, 10);
        return pid > 0 ? pid : -1;
}

static void classify(const char *store, const qz_manifest *m, qz_prune_entry *e) {
        e->name = xstrdup(m->name);
        e->created = xstrdup(m->created);
        e->job = xstrdup(m->job);
        qz_label label = qz_manifest_proven_label(m, NULL);
        e->label = xstrdup(qz_label_name(label));
        qz_pin *pins = NULL;
        size_t n_pins = 0;
        if (qz_pins_get(store, m->name, &pins, &n_pins) < 0)
                e->pinned = xstrdup("unreadable pins (kept to be safe)");
        else
                e->pinned = qz_pins_describe(pins, n_pins);
        qz_pins_free(pins, n_pins);

        long pid = reserved_by(store, m->name);
        qz_snap_state state = QZ_SNAP_INTACT;
        if (pid) {
                e->kind = QZ_RETAIN_IN_PROGRESS;
                e->why = pid > 0 ? xasprintf("in progress (reserved by pid %ld)", pid)
                                 : xstrdup("in progress");
        } else if (!qz_prune_parse_time(m->created, &e->time)) {
                e->kind = QZ_RETAIN_IN_PROGRESS;
                e->why = xasprintf("no readable creation time (\"created\": %s%s%s)", m->created ? "\"" : "",
                                   m->created ? m->created : "null", m->created ? "\"" : "");
        } else if (qz_manifest_incomplete(m)) {
                e->kind = QZ_RETAIN_BROKEN;
                e->why = xstrdup("incomplete: a provider failed");
        } else if ((state = qz_snapshot_verify(m, NULL)) == QZ_SNAP_MISSING || state == QZ_SNAP_DAMAGED) {
                e->kind = QZ_RETAIN_BROKEN;
                e->why = xasprintf("its storage is %s", qz_snap_state_name(state));
        } else
                e->kind = label == QZ_LABEL_CRASH ? QZ_RETAIN_CRASH : QZ_RETAIN_CONSISTENT;
}

int qz_snapshot_prune(const char *store_opt, const char *job, const qz_retention *policy, bool dry_run,
                      qz_snapshot_msg_fn msg, void *userdata, qz_prune_result *ret) {
        memset(ret, 0, sizeof(*ret));
        if (qz_retention_empty(policy))
                return -EINVAL;
        _cleanup_free_ char *store = qz_store_dir(store_opt);
        qz_manifest **v = NULL;
        size_t n = 0;
        int r = qz_manifest_list(store, &v, &n, NULL);
        if (r < 0)
                return r;
        ret->v = calloc(n ? n : 1, sizeof(*ret->v));
        if (!ret->v)
                abort();
        for (size_t i = 0; i < n; i++)
                if (!job || same_job(job, v[i]->job))
                        classify(store, v[i], &ret->v[ret->n++]);
        qz_manifest_list_free(v, n);
        r = qz_prune_decide(policy, ret);
        if (r < 0 || dry_run)
                return r;
        for (unsigned o = 1; o <= ret->n_remove; o++)
                for (size_t i = 0; i < ret->n; i++) {
                        qz_prune_entry *e = &ret->v[i];
                        if (e->order != o)
                                continue;
                        int d = qz_snapshot_delete(store, e->name, msg, userdata);
                        if (d == 0 || d == -ENOENT) {
                                e->removed = true;
                                ret->n_removed++;
                        } else {
                                e->error = xasprintf("%s",
                                                     d == -EBUSY ? "pinned meanwhile; kept" : strerror(-d));
                                ret->n_failed++;
                        }
                }
        return ret->n_failed ? -EIO : 0;
}
