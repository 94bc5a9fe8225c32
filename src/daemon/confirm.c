/* SPDX-License-Identifier: GPL-2.0-or-later */
/* confirm.c - waiting for a fresh probe (see confirm.h). Each filesystem
 * keeps two lists: the requests the probe in flight answers (asked before it
 * began) and those that came later and wait for the next one.
 */
#include "confirm.h"

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

struct qz_confirm {
        qz_fs *fs[QZ_MAX_TARGETS];
        size_t n;
        size_t pending; /* probes not answered yet */
        qz_confirm_fn fn;
        void *arg;
};

typedef struct waitlist {
        qz_confirm **v;
        size_t n;
} waitlist;

typedef struct fs_waiters {
        waitlist now, next;
        bool inflight;     /* a probe was asked and not answered */
        unsigned want_seq; /* its number */
} fs_waiters;

static fs_waiters *waiters_of(qz_fs *fs, bool create) {
        if (!fs->confirms && create) {
                fs->confirms = calloc(1, sizeof(fs_waiters));
                if (!fs->confirms)
                        abort(); /* tiny allocation under mlockall; nothing sane to do */
        }
        return fs->confirms;
}

static void list_add(waitlist *l, qz_confirm *c) {
        qz_confirm **v = realloc(l->v, (l->n + 1) * sizeof(*v));
        if (!v)
                abort();
        l->v = v;
        l->v[l->n++] = c;
}

static void list_remove(waitlist *l, const qz_confirm *c) {
        for (size_t i = 0; i < l->n; i++)
                if (l->v[i] == c) {
                        memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof(*l->v));
                        l->n--;
                        return;
                }
}

static void waiters_maybe_free(qz_fs *fs) {
        fs_waiters *w = fs->confirms;
        if (w && w->now.n == 0 && w->next.n == 0 && !w->inflight) {
                free(w->now.v);
                free(w->next.v);
                free(w);
                fs->confirms = NULL;
        }
}

static void unpin(qz_daemon *d, qz_confirm *c) {
        for (size_t i = 0; i < c->n; i++) {
                c->fs[i]->pins--;
                qz_holds_fs_maybe_idle(d->holds, c->fs[i]);
        }
}

static void finish(qz_daemon *d, qz_confirm *c) {
        c->fn(d, c->arg);
        unpin(d, c);
        free(c);
}

/* Asks fs's keeper for a probe for the requests in w->now. false: it has no
 * keeper (it is not frozen any more): they need not wait. */
static bool ask(qz_daemon *d, qz_fs *fs, fs_waiters *w) {
        int seq = qz_freezer_probe(d->freezer, fs);
        if (seq < 0)
                return false;
        w->inflight = true;
        w->want_seq = (unsigned)seq;
        return true;
}

qz_confirm *qz_confirm_start(qz_daemon *d, qz_fs *const *fs, size_t n, qz_confirm_fn fn, void *arg) {
        qz_confirm *c = calloc(1, sizeof(*c));
        if (!c)
                abort();
        c->fn = fn;
        c->arg = arg;
        for (size_t i = 0; i < n && c->n < QZ_MAX_TARGETS; i++) {
                bool dup = false;
                for (size_t j = 0; j < c->n; j++)
                        dup |= c->fs[j] == fs[i];
                if (dup)
                        continue;
                c->fs[c->n++] = fs[i];
                fs[i]->pins++;
        }
        for (size_t i = 0; i < c->n; i++) {
                qz_fs *f = c->fs[i];
                if (f->state != QZ_FS_FROZEN || !f->keeper)
                        continue;
                fs_waiters *w = waiters_of(f, true);
                if (w->inflight) {
                        list_add(&w->next, c);
                } else {
                        if (!ask(d, f, w)) {
                                waiters_maybe_free(f);
                                continue;
                        }
                        list_add(&w->now, c);
                }
                c->pending++;
        }
        if (c->pending == 0) {
                finish(d, c);
                return NULL;
        }
        return c;
}

void qz_confirm_cancel(qz_daemon *d, qz_confirm *c, void (*free_arg)(void *arg)) {
        for (size_t i = 0; i < c->n; i++) {
                fs_waiters *w = c->fs[i]->confirms;
                if (w) {
                        list_remove(&w->now, c);
                        list_remove(&w->next, c);
                        waiters_maybe_free(c->fs[i]);
                }
        }
        if (free_arg)
                free_arg(c->arg);
        unpin(d, c);
        free(c);
}

/* The requests of l go on (each once all its filesystems answered). */
static void release_list(qz_daemon *d, waitlist l) {
        for (size_t i = 0; i < l.n; i++)
                if (--l.v[i]->pending == 0)
                        finish(d, l.v[i]);
        free(l.v);
}

void qz_confirm_answered(qz_daemon *d, qz_fs *fs, unsigned seq) {
        fs_waiters *w = fs->confirms;
        if (!w || !w->inflight || (int)(seq - w->want_seq) < 0)
                return; /* a probe that began before the one asked for */
        waitlist done = w->now;
        w->now = w->next;
        w->next = (waitlist){0};
        w->inflight = false;
        /* Those that came while it ran get the next probe, asked before
         * anybody goes on (they may ask more of this filesystem). */
        if (w->now.n && !ask(d, fs, w)) {
                waitlist also = w->now;
                w->now = (waitlist){0};
                release_list(d, also);
                w = fs->confirms;
        }
        if (w)
                waiters_maybe_free(fs);
        release_list(d, done);
}

void qz_confirm_settle(qz_daemon *d, qz_fs *fs) {
        fs_waiters *w = fs->confirms;
        if (!w)
                return;
        waitlist a = w->now, b = w->next;
        w->now = w->next = (waitlist){0};
        w->inflight = false;
        waiters_maybe_free(fs);
        release_list(d, a);
        release_list(d, b);
}
