/* SPDX-License-Identifier: GPL-2.0-or-later */
/* retention.c - the retention decision (retention.h): restic's forget
 * policy (snapshot_policy.go's ApplyPolicy: buckets in local time, the
 * newest of a bucket counts, the oldest kept while slots are left) applied
 * to the consistent items only; crash-consistent and broken ones never hold
 * a slot and are removed first; pins keep; runs in progress are never touched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retention.h"
#include "xalloc.h"

enum { CLASS_LAST, CLASS_HOURLY, CLASS_DAILY, CLASS_WEEKLY, CLASS_MONTHLY, N_CLASSES };

static const char *const class_names[N_CLASSES] = {"last", "hourly", "daily", "weekly", "monthly"};

static unsigned class_count(const qz_retention *p, int c) {
        const unsigned v[N_CLASSES] = {p->keep_last, p->keep_hourly, p->keep_daily, p->keep_weekly,
                                       p->keep_monthly};
        return v[c];
}

bool qz_retention_empty(const qz_retention *p) {
        for (int c = 0; c < N_CLASSES; c++)
                if (class_count(p, c))
                        return false;
        return true;
}

char *qz_retention_describe(const qz_retention *p) {
        char buf[256] = "keep";
        size_t len = strlen(buf);
        bool first = true;
        for (int c = 0; c < N_CLASSES; c++) {
                unsigned k = class_count(p, c);
                if (!k)
                        continue;
                char n[16];
                if (k == QZ_RETENTION_ALL)
                        snprintf(n, sizeof(n), "all");
                else
                        snprintf(n, sizeof(n), "%u", k);
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %s %s", first ? "" : ",", n,
                                        class_names[c]);
                first = false;
        }
        if (first)
                snprintf(buf, sizeof(buf), "keep nothing (an empty policy)");
        return xstrdup(buf);
}

/* An item's bucket in class c (its number, as restic's ymdh/ymd/yw/ym), and
 * its name for the reason ("2026-11-29", "2026-W48"). "last": every item its
 * own bucket (nr). */
static long bucket(int c, time_t t, long nr, char *name, size_t size) {
        struct tm tm;
        localtime_r(&t, &tm);
        long y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
        switch (c) {
        case CLASS_HOURLY:
                strftime(name, size, "%Y-%m-%d %H:00", &tm);
                return ((y * 100 + m) * 100 + d) * 100 + tm.tm_hour;
        case CLASS_DAILY:
                strftime(name, size, "%Y-%m-%d", &tm);
                return (y * 100 + m) * 100 + d;
        case CLASS_WEEKLY: {
                char g[8], v[4];
                strftime(g, sizeof(g), "%G", &tm); /* ISO 8601 week-numbering year and week */
                strftime(v, sizeof(v), "%V", &tm);
                snprintf(name, size, "%s-W%s", g, v);
                return strtol(g, NULL, 10) * 100 + strtol(v, NULL, 10);
        }
        case CLASS_MONTHLY:
                strftime(name, size, "%Y-%m", &tm);
                return y * 100 + m;
        default:
                snprintf(name, size, "%s", "");
                return nr;
        }
}

static void add_reason(qz_retention_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(qz_retention_item *it, const char *fmt, ...) {
        size_t len = strlen(it->reason);
        if (len + 3 >= sizeof(it->reason))
                return;
        if (len > 6) /* past "keep: " or "remove: " */
                len += (size_t)snprintf(it->reason + len, sizeof(it->reason) - len, ", ");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(it->reason + len, sizeof(it->reason) - len, fmt, ap);
        va_end(ap);
}

/* Newest first; the same second: the greater id first, numbers in it
 * compared as numbers (NAME-2 newer than NAME, NAME-10 newer than NAME-9:
 * the -N a second run in the same second gets); the same id: the order given. */
static int newest_first(const void *a, const void *b, void *items) {
        size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
        const qz_retention_item *v = items, *x = &v[ia], *y = &v[ib];
        if (x->time != y->time)
                return x->time > y->time ? -1 : 1;
        int c = strverscmp(x->id ? x->id : "", y->id ? y->id : "");
        if (c)
                return -c;
        return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/* Removal order: crash and broken first (newest first among them, as listed),
 * then what the policy let go, oldest first. */
static int removal_order(const void *a, const void *b, void *items) {
        const qz_retention_item *v = items, *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];
        bool bx = x->kind != QZ_RETAIN_CONSISTENT, by = y->kind != QZ_RETAIN_CONSISTENT;
        if (bx != by)
                return bx ? -1 : 1;
        return -newest_first(a, b, items);
}

int qz_retention_apply(const qz_retention *p, qz_retention_item *items, size_t n) {
        if (qz_retention_empty(p))
                return -EINVAL;
        size_t *idx = calloc(n ? n : 1, sizeof(*idx));
        if (!idx)
                abort();
        for (size_t i = 0; i < n; i++) {
                idx[i] = i;
                items[i].keep = false;
                items[i].order = 0;
                items[i].reason[0] = '\0';
        }
        qsort_r(idx, n, sizeof(*idx), newest_first, items);

        /* the consistent items, newest first: restic's ApplyPolicy */
        size_t n_cons = 0;
        for (size_t k = 0; k < n; k++)
                n_cons += items[idx[k]].kind == QZ_RETAIN_CONSISTENT;
        unsigned left[N_CLASSES];
        long last[N_CLASSES];
        bool any[N_CLASSES] = {false};
        for (int c = 0; c < N_CLASSES; c++)
                left[c] = class_count(p, c);
        long nr = 0;
        for (size_t k = 0; k < n; k++) {
                qz_retention_item *it = &items[idx[k]];
                if (it->kind != QZ_RETAIN_CONSISTENT)
                        continue;
                bool oldest = nr == (long)n_cons - 1;
                snprintf(it->reason, sizeof(it->reason), "keep: ");
                for (int c = 0; c < N_CLASSES; c++) {
                        if (!left[c])
                                continue;
                        char name[32];
                        long b = bucket(c, it->time, nr, name, sizeof(name));
                        if (any[c] && b == last[c] && !oldest)
                                continue;
                        bool again = any[c] && b == last[c]; /* the oldest, in a bucket already kept */
                        it->keep = true;
                        last[c] = b;
                        any[c] = true;
                        if (left[c] != QZ_RETENTION_ALL)
                                left[c]--;
                        add_reason(it, "%s%s%s%s", again ? "oldest " : "", class_names[c], *name ? " " : "",
                                   name);
                }
                nr++;
        }

        /* the rest: why each goes, or what keeps it anyway */
        for (size_t i = 0; i < n; i++) {
                qz_retention_item *it = &items[i];
                if (it->kind == QZ_RETAIN_IN_PROGRESS) {
                        it->keep = true;
                        snprintf(it->reason, sizeof(it->reason), "keep: %s, never touched",
                                 it->why ? it->why : "in progress");
                        continue;
                }
                if (it->keep) {
                        if (it->pinned_by)
                                add_reason(it, "pinned by %s", it->pinned_by);
                        continue;
                }
                const char *what = it->kind == QZ_RETAIN_CRASH    ? "crash-consistent, never counts"
                                   : it->kind == QZ_RETAIN_BROKEN ? "broken, never counts"
                                                                  : "not kept by the policy";
                if (it->pinned_by) {
                        it->keep = true;
                        snprintf(it->reason, sizeof(it->reason), "keep: pinned by %s (otherwise: %s)",
                                 it->pinned_by, what);
                } else if (it->kind == QZ_RETAIN_BROKEN && it->why)
                        snprintf(it->reason, sizeof(it->reason), "remove: broken (%s), never counts",
                                 it->why);
                else
                        snprintf(it->reason, sizeof(it->reason), "remove: %s", what);
        }

        /* the order of removal */
        qsort_r(idx, n, sizeof(*idx), removal_order, items);
        unsigned order = 0;
        for (size_t k = 0; k < n; k++)
                if (!items[idx[k]].keep)
                        items[idx[k]].order = ++order;
        free(idx);
        return 0;
}
