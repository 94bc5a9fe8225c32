/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status.c - the Status and GetInfo methods. Status is written out as it
 * is built, one hold's object at a time, so a listing of many holds never
 * stands as one json-c tree in the (locked) heap; the text is the same JSON
 * a tree would give.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/printbuf.h>

#include "daemon.h"
#include "jsonutil.h"
#include "methods.h"
#include "ms.h"
#include "quiesce.h"
#include "reply.h"
#include "server.h"

/* ---- a JSON text written piece by piece -------------------------------- */

#define JSONW_DEPTH 8

/* Objects and arrays are opened and closed in order; a member is its key
 * then its value, an element a value; the commas are the writer's. Only
 * running out of memory fails it (failed: the text is to be dropped). */
typedef struct jsonw {
        struct printbuf *pb;
        bool failed;
        unsigned depth;
        bool first[JSONW_DEPTH]; /* nothing written yet at that level */
        bool after_key;          /* the next value completes a member */
} jsonw;

static void put_raw(jsonw *w, const char *s, size_t len) {
        if (!w->failed && printbuf_memappend(w->pb, s, (int)len) < 0)
                w->failed = true;
}

static void put_str(jsonw *w, const char *s) {
        put_raw(w, s, strlen(s));
}

/* Before a value or a key: the comma, unless it is the first at its level
 * or the value of the key just written. */
static void separate(jsonw *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth > 0 && !w->first[w->depth - 1])
                put_str(w, ",");
        if (w->depth > 0)
                w->first[w->depth - 1] = false;
}

static void open_(jsonw *w, const char *bracket) {
        separate(w);
        put_str(w, bracket);
        if (w->depth >= JSONW_DEPTH) {
                w->failed = true; /* deeper than Status goes: a bug here, reported as a failure */
                return;
        }
        w->first[w->depth++] = true;
}

static void close_(jsonw *w, const char *bracket) {
        if (w->depth > 0)
                w->depth--;
        put_str(w, bracket);
}

/* "key": (the key is one of ours: plain ASCII, escaped all the same) */
static void key(jsonw *w, const char *k) {
        separate(w);
        put_str(w, "\"");
        for (const char *p = k; *p; p++) {
                char esc[8];
                if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') {
                        snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*p);
                        put_str(w, esc);
                } else {
                        put_raw(w, p, 1);
                }
        }
        put_str(w, "\":");
        w->after_key = true;
}

/* A complete value: o's text (NULL: null). Does not consume o. */
static void value(jsonw *w, json_object *o) {
        separate(w);
        put_str(w, o ? qz_json_text(o) : "null");
}

/* o's members, as members of the object open now; consumes o. */
static void members(jsonw *w, json_object *o) {
        json_object_object_foreach(o, k, v) {
                key(w, k);
                value(w, v);
        }
        json_object_put(o);
}

/* ---- Status and GetInfo ------------------------------------------------- */

static void add_info(qz_daemon *d, json_object *p) {
        json_object_object_add(p, "version", json_object_new_string(QZ_VERSION_STRING));
        json_object_object_add(p, "pid", json_object_new_int(getpid()));
        json_object_object_add(p, "max_frozen_ms", json_object_new_int64(qz_usec_to_ms(d->max_frozen)));
        json_object_object_add(p, "probe_interval_ms",
                               json_object_new_int64(qz_usec_to_ms(d->probe_interval)));
}

static json_object *status_hold_json(const qzd_hold *h, usec_t now) {
        json_object *ho = json_object_new_object();
        json_object_object_add(ho, "id", json_object_new_uint64(h->id));
        json_object_object_add(ho, "detached", json_object_new_boolean(h->detached));
        json_object_object_add(ho, "pid", json_object_new_int(h->pid));
        json_object_object_add(ho, "uid", json_object_new_int64(h->uid));
        json_object_object_add(ho, "age_ms", json_object_new_int64((int64_t)((now - h->created) / 1000)));
        json_object_object_add(ho, "remaining_ms", json_object_new_int64(qz_ms_until(h->deadline, now)));
        json_object_object_add(ho, "broken", json_object_new_boolean(qz_hold_broken(h, NULL)));
        if (qz_hold_broken(h, NULL) && h->breach)
                json_object_object_add(ho, "breach", json_object_new_string(h->breach));
        return ho;
}

static json_object *status_fs_json(const qz_fs *fs, usec_t now) {
        bool active = fs->state != QZ_FS_THAWED;
        json_object *o = qz_fs_ref_json(fs, NULL);
        json_object_object_add(o, "state", json_object_new_string(qz_fs_state_name(fs->state)));
        int64_t last_stall_ms = qz_usec_to_ms(fs->last_stall);
        int64_t frozen_ms = active ? (int64_t)((now - fs->freeze_start) / 1000) : last_stall_ms;
        if (fs->state == QZ_FS_FREEZING)
                frozen_ms = 0;
        json_object_object_add(o, "frozen_ms", json_object_new_int64(frozen_ms));
        json_object_object_add(o, "last_stall_ms", json_object_new_int64(last_stall_ms));
        json_object_object_add(
                o, "ceiling_ms",
                json_object_new_int64(fs->state == QZ_FS_FROZEN ? qz_ms_until(fs->ceiling_at, now) : -1));
        return o;
}

static json_object *counters_json(qz_daemon *d) {
        json_object *ctr = json_object_new_object();
        json_object_object_add(ctr, "fifreeze",
                               json_object_new_uint64(qz_freezer_fifreeze_calls(d->freezer)));
        json_object_object_add(ctr, "fithaw", json_object_new_uint64(qz_freezer_fithaw_calls(d->freezer)));
        json_object_object_add(ctr, "probes", json_object_new_uint64(qz_freezer_probe_calls(d->freezer)));
        json_object_object_add(ctr, "holds_granted", json_object_new_uint64(d->holds_granted));
        json_object_object_add(ctr, "holds_active", json_object_new_uint64(qz_holds_count(d->holds)));
        json_object_object_add(ctr, "connections", json_object_new_uint64(qz_server_n_conns(d)));
        return ctr;
}

/* {"parameters": {version..., "filesystems": [{..., "holds": [...]}, ...], "writers": [...],
 * "counters": {...}}} */
void qz_method_status(qz_conn *c, const qz_request *req) {
        (void)req;
        qz_daemon *d = qz_conn_daemon(c);
        usec_t now = qz_now();
        jsonw w = {.pb = printbuf_new()};
        if (!w.pb) {
                qz_reply_error(c, -ENOMEM, NULL, "out of memory for the Status reply");
                return;
        }
        open_(&w, "{");
        key(&w, "parameters");
        open_(&w, "{");
        json_object *info = json_object_new_object();
        add_info(d, info);
        members(&w, info);
        key(&w, "filesystems");
        open_(&w, "[");
        for (qz_fs *fs = qz_holds_first_fs(d->holds); fs; fs = fs->next) {
                if (fs->state == QZ_FS_THAWED && fs->refs == 0 && fs->freeze_start == 0)
                        continue; /* named in a refused request, never frozen */
                open_(&w, "{");
                members(&w, status_fs_json(fs, now));
                key(&w, "holds");
                open_(&w, "[");
                for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                        for (size_t i = 0; i < h->n_fs; i++) {
                                if (h->fs[i] != fs)
                                        continue;
                                json_object *ho = status_hold_json(h, now);
                                value(&w, ho);
                                json_object_put(ho);
                        }
                close_(&w, "]");
                close_(&w, "}");
        }
        close_(&w, "]");
        key(&w, "writers");
        open_(&w, "[");
        const qzd_writer *last = d->writers.first;
        while (last && last->next)
                last = last->next;
        for (const qzd_writer *wr = last; wr; wr = wr->prev) { /* in the order they registered */
                json_object *wo = qzd_writer_status_json(wr, now);
                value(&w, wo);
                json_object_put(wo);
        }
        close_(&w, "]");
        key(&w, "counters");
        json_object *ctr = counters_json(d);
        value(&w, ctr);
        json_object_put(ctr);
        close_(&w, "}");
        close_(&w, "}");
        if (w.failed)
                qz_reply_error(c, -ENOMEM, NULL, "out of memory for the Status reply");
        else
                qz_conn_reply_text(c, w.pb->buf);
        printbuf_free(w.pb);
}

void qz_method_get_info(qz_conn *c, const qz_request *req) {
        (void)req;
        qz_daemon *d = qz_conn_daemon(c);
        json_object *p = json_object_new_object();
        add_info(d, p);
        json_object_object_add(p, "socket", json_object_new_string(d->socket_path));
        json_object_object_add(p, "runtime_dir", json_object_new_string(d->runtime_dir));
        qz_reply_ok(c, p);
}
