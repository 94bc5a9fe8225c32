/* SPDX-License-Identifier: GPL-2.0-or-later */
/* decode.c - quiesced's reply objects (filesystem references, holds, status;
 * see docs/protocol.md) decoded into the public structs of quiesce.h, and
 * their release. Missing optional fields get the documented "unknown" values.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-internal.h"
#include "jsonutil.h"

static void copy_str(char *dst, size_t size, const char *src) {
        snprintf(dst, size, "%s", src ? src : "");
}

static int dup_str(char **dst, const char *src, bool empty_if_absent) {
        if (!src && !empty_if_absent) {
                *dst = NULL;
                return 0;
        }
        *dst = strdup(src ? src : "");
        return *dst ? 0 : -ENOMEM;
}

static void ref_done(qz_fs_ref *r) {
        free(r->proof.breach);
        free(r->mountpoint);
        free(r->fstype);
        free(r->source);
        free(r->path);
}

static int decode_proof(json_object *o, qz_proof *p) {
        memset(p, 0, sizeof(*p));
        p->sectors_written = p->probe_ms = -1;
        p->held = 1;
        if (!o || json_object_is_type(o, json_type_null))
                return 0;
        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        p->known = 1;
        p->held = qz_json_bool_or(o, "held", false);
        const char *owner = qz_json_get_string(o, "freeze_owner");
        p->foreign = owner && strcmp(owner, "quiesce") != 0;
        copy_str(p->device, sizeof(p->device), qz_json_get_string(o, "device"));
        p->sectors_written = qz_json_int64_or(o, "sectors_written", -1);
        copy_str(p->probe, sizeof(p->probe), qz_json_get_string(o, "probe"));
        p->probe_ms = qz_json_int64_or(o, "probe_ms", -1);
        p->breaches = (unsigned)qz_json_int64_or(o, "breaches", 0);
        return dup_str(&p->breach, qz_json_get_string(o, "breach"), false);
}

static int decode_ref(json_object *o, qz_fs_ref *r) {
        memset(r, 0, sizeof(*r));
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        copy_str(r->id, sizeof(r->id), qz_json_get_string(o, "id"));
        r->stall_ms = qz_json_int64_or(o, "stall_ms", -1);
        bool held = true;
        qz_json_get_bool(o, "held", &held);
        r->held = held;
        json_object *proof = NULL;
        json_object_object_get_ex(o, "proof", &proof);
        int e = decode_proof(proof, &r->proof);
        if (e < 0)
                return e;
        if (dup_str(&r->mountpoint, qz_json_get_string(o, "mountpoint"), true) < 0 ||
            dup_str(&r->fstype, qz_json_get_string(o, "fstype"), true) < 0 ||
            dup_str(&r->source, qz_json_get_string(o, "source"), true) < 0 ||
            dup_str(&r->path, qz_json_get_string(o, "path"), false) < 0) {
                ref_done(r);
                return -ENOMEM;
        }
        return 0;
}

/* The array at o[key] (absent: empty); its length in *n. */
static int get_array(json_object *o, const char *key, json_object **ret, size_t *n) {
        json_object *a = NULL;
        *ret = NULL;
        *n = 0;
        if (!json_object_object_get_ex(o, key, &a) || json_object_is_type(a, json_type_null))
                return 0;
        if (!json_object_is_type(a, json_type_array))
                return -EBADMSG;
        *ret = a;
        *n = json_object_array_length(a);
        return 0;
}

void qz_writer_report_done(qz_writer_report *w) {
        free(w->name);
        free(w->reason);
        free(w->fs_ids);
        for (unsigned p = 0; p < 4; p++)
                free(w->phase[p].detail);
}

int qz_decode_writer_report(json_object *o, qz_writer_report *w) {
        static const char *const phases[4] = {"prepare", "freeze", "thaw", "abort"};
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (dup_str(&w->name, qz_json_get_string(o, "name"), true) < 0 ||
            dup_str(&w->reason, qz_json_get_string(o, "reason"), false) < 0)
                return -ENOMEM;
        w->id = (uint64_t)qz_json_int64_or(o, "id", 0);
        w->uid = (uid_t)qz_json_int64_or(o, "uid", -1);
        w->pid = (pid_t)qz_json_int64_or(o, "pid", 0);
        w->required = qz_json_bool_or(o, "required", false);
        w->freeze_id = (uint64_t)qz_json_int64_or(o, "freeze_id", 0);
        w->acknowledged = qz_json_bool_or(o, "acknowledged", false);
        w->lost = qz_json_bool_or(o, "lost", false);
        for (unsigned p = 0; p < 4; p++) {
                json_object *ph;
                qz_writer_phase_report *r = &w->phase[p];
                r->ms = -1;
                snprintf(r->answer, sizeof(r->answer), "none");
                if (!json_object_object_get_ex(o, phases[p], &ph) ||
                    !json_object_is_type(ph, json_type_object))
                        continue;
                r->asked = 1;
                const char *a = qz_json_get_string(ph, "answer");
                snprintf(r->answer, sizeof(r->answer), "%s", a ? a : "none");
                r->ms = qz_json_int64_or(ph, "ms", -1);
                r->timed_out = qz_json_bool_or(ph, "timed_out", false);
                if (dup_str(&r->detail, qz_json_get_string(ph, "detail"), false) < 0)
                        return -ENOMEM;
        }
        json_object *a;
        size_t n;
        if (get_array(o, "filesystems", &a, &n) < 0)
                return -EBADMSG;
        if (n && !(w->fs_ids = calloc(n, sizeof(*w->fs_ids))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(a, i));
                snprintf(w->fs_ids[w->n_fs++], sizeof(w->fs_ids[0]), "%s", id ? id : "");
        }
        return 0;
}

void qz_hold_free(qz_hold *h) {
        if (!h)
                return;
        for (size_t i = 0; i < h->n_fs; i++)
                ref_done(&h->fs[i]);
        free(h->fs);
        for (size_t i = 0; i < h->n_writers; i++)
                qz_writer_report_done(&h->writers[i]);
        free(h->writers);
        free(h->breach);
        free(h);
}

int qz_decode_hold(json_object *o, qz_hold **ret) {
        *ret = NULL;
        int64_t id;
        if (!o || !json_object_is_type(o, json_type_object) || !qz_json_get_int64(o, "id", &id) || id < 0)
                return -EBADMSG;
        json_object *a;
        size_t n;
        int r = get_array(o, "filesystems", &a, &n);
        if (r < 0)
                return r;
        qz_hold *h = calloc(1, sizeof(*h));
        if (!h || (n && !(h->fs = calloc(n, sizeof(*h->fs))))) {
                free(h);
                return -ENOMEM;
        }
        h->id = (uint64_t)id;
        h->detached = qz_json_bool_or(o, "detached", false);
        h->remaining_ms = qz_json_int64_or(o, "remaining_ms", QZ_NO_DEADLINE);
        h->broken = qz_json_bool_or(o, "broken", false);
        if (dup_str(&h->breach, qz_json_get_string(o, "breach"), false) < 0) {
                qz_hold_free(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = decode_ref(json_object_array_get_idx(a, i), &h->fs[i]);
                if (r < 0) {
                        qz_hold_free(h);
                        return r;
                }
                h->n_fs++;
        }
        if (get_array(o, "writers", &a, &n) < 0 || (n && !(h->writers = calloc(n, sizeof(*h->writers))))) {
                qz_hold_free(h);
                return n ? -ENOMEM : -EBADMSG;
        }
        for (size_t i = 0; i < n; i++) {
                r = qz_decode_writer_report(json_object_array_get_idx(a, i), &h->writers[h->n_writers++]);
                if (r < 0) {
                        qz_hold_free(h);
                        return r;
                }
        }
        *ret = h;
        return 0;
}

static void writer_status_done(qz_writer_status *w) {
        for (size_t i = 0; i < w->n_fs; i++)
                ref_done(&w->fs[i]);
        free(w->fs);
        free(w->name);
        free(w->last_detail);
}

void qz_status_free(qz_status *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_fs; i++) {
                ref_done(&s->fs[i].fs);
                free(s->fs[i].holds);
        }
        free(s->fs);
        free(s->counters);
        for (size_t i = 0; i < s->n_writers; i++)
                writer_status_done(&s->writers[i]);
        free(s->writers);
        free(s);
}

/* One of Status's "writers" (docs/protocol.md); w zeroed. */
static int decode_writer_status(json_object *o, qz_writer_status *w) {
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (dup_str(&w->name, qz_json_get_string(o, "name"), true) < 0)
                return -ENOMEM;
        w->id = (uint64_t)qz_json_int64_or(o, "id", 0);
        w->pid = (pid_t)qz_json_int64_or(o, "pid", 0);
        w->uid = (uid_t)qz_json_int64_or(o, "uid", -1);
        w->required = qz_json_bool_or(o, "required", false);
        w->may_veto = qz_json_bool_or(o, "may_veto", false);
        w->age_ms = qz_json_int64_or(o, "age_ms", -1);
        w->prepare_timeout_ms = qz_json_int64_or(o, "prepare_timeout_ms", -1);
        w->freeze_timeout_ms = qz_json_int64_or(o, "freeze_timeout_ms", -1);
        w->thaw_timeout_ms = qz_json_int64_or(o, "thaw_timeout_ms", -1);
        w->last_ago_ms = w->last_ms = -1;
        json_object *last = NULL;
        if (json_object_object_get_ex(o, "last", &last) && json_object_is_type(last, json_type_object)) {
                w->last_freeze_id = (uint64_t)qz_json_int64_or(last, "freeze", 0);
                copy_str(w->last_phase, sizeof(w->last_phase), qz_json_get_string(last, "phase"));
                const char *a = qz_json_get_string(last, "answer");
                copy_str(w->last_answer, sizeof(w->last_answer), a ? a : "none");
                w->last_ago_ms = qz_json_int64_or(last, "ago_ms", -1);
                w->last_ms = qz_json_int64_or(last, "ms", -1);
                w->last_timed_out = qz_json_bool_or(last, "timed_out", false);
                if (dup_str(&w->last_detail, qz_json_get_string(last, "detail"), false) < 0)
                        return -ENOMEM;
        }
        json_object *a;
        size_t n;
        if (get_array(o, "filesystems", &a, &n) < 0)
                return -EBADMSG;
        if (n && !(w->fs = calloc(n, sizeof(*w->fs))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = decode_ref(json_object_array_get_idx(a, i), &w->fs[i]);
                if (r < 0)
                        return r;
                w->n_fs++;
        }
        return 0;
}

static int decode_writers_status(json_object *o, qz_status *s) {
        json_object *a;
        size_t n;
        if (get_array(o, "writers", &a, &n) < 0)
                return -EBADMSG;
        if (n && !(s->writers = calloc(n, sizeof(*s->writers))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = decode_writer_status(json_object_array_get_idx(a, i), &s->writers[s->n_writers++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int decode_hold_info(json_object *o, qz_hold_info *h) {
        int64_t id;
        if (!o || !json_object_is_type(o, json_type_object) || !qz_json_get_int64(o, "id", &id) || id < 0)
                return -EBADMSG;
        h->id = (uint64_t)id;
        h->detached = qz_json_bool_or(o, "detached", false);
        h->pid = (pid_t)qz_json_int64_or(o, "pid", 0);
        h->uid = (uid_t)qz_json_int64_or(o, "uid", -1);
        h->age_ms = qz_json_int64_or(o, "age_ms", 0);
        h->remaining_ms = qz_json_int64_or(o, "remaining_ms", QZ_NO_DEADLINE);
        h->broken = qz_json_bool_or(o, "broken", false);
        return 0;
}

static int decode_fs_status(json_object *o, qz_fs_status *f) {
        int r = decode_ref(o, &f->fs);
        if (r < 0)
                return r;
        copy_str(f->state, sizeof(f->state), qz_json_get_string(o, "state"));
        f->frozen_ms = qz_json_int64_or(o, "frozen_ms", 0);
        f->last_stall_ms = qz_json_int64_or(o, "last_stall_ms", -1);
        f->ceiling_ms = qz_json_int64_or(o, "ceiling_ms", -1);
        json_object *a;
        size_t n;
        r = get_array(o, "holds", &a, &n);
        if (r < 0 || (n && !(f->holds = calloc(n, sizeof(*f->holds))))) {
                ref_done(&f->fs);
                return r < 0 ? r : -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = decode_hold_info(json_object_array_get_idx(a, i), &f->holds[i]);
                if (r < 0) {
                        ref_done(&f->fs);
                        free(f->holds);
                        f->holds = NULL;
                        return r;
                }
        }
        f->n_holds = n;
        return 0;
}

int qz_decode_status(json_object *o, qz_status **ret) {
        *ret = NULL;
        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        json_object *a;
        size_t n;
        int r = get_array(o, "filesystems", &a, &n);
        if (r < 0)
                return r;
        qz_status *s = calloc(1, sizeof(*s));
        if (!s || (n && !(s->fs = calloc(n, sizeof(*s->fs))))) {
                free(s);
                return -ENOMEM;
        }
        copy_str(s->version, sizeof(s->version), qz_json_get_string(o, "version"));
        s->max_frozen_ms = qz_json_int64_or(o, "max_frozen_ms", -1);
        for (size_t i = 0; i < n; i++) {
                r = decode_fs_status(json_object_array_get_idx(a, i), &s->fs[i]);
                if (r < 0) {
                        qz_status_free(s);
                        return r;
                }
                s->n_fs++;
        }
        r = decode_writers_status(o, s);
        if (r < 0) {
                qz_status_free(s);
                return r;
        }
        json_object *ctr = NULL;
        if (json_object_object_get_ex(o, "counters", &ctr) && json_object_is_type(ctr, json_type_object) &&
            json_object_object_length(ctr) > 0) {
                s->counters = calloc((size_t)json_object_object_length(ctr), sizeof(*s->counters));
                if (!s->counters) {
                        qz_status_free(s);
                        return -ENOMEM;
                }
                json_object_object_foreach(ctr, key, val) {
                        qz_counter *c = &s->counters[s->n_counters++];
                        copy_str(c->name, sizeof(c->name), key);
                        c->value = json_object_get_int64(val);
                }
        }
        *ret = s;
        return 0;
}

void qz_thaw_report_free(qz_thaw_report *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_released; i++)
                ref_done(&r->released[i].fs);
        free(r->released);
        free(r);
}

const qz_release *qz_thaw_report_find(const qz_thaw_report *r, const char *id) {
        for (size_t i = 0; r && id && i < r->n_released; i++)
                if (strcmp(r->released[i].fs.id, id) == 0)
                        return &r->released[i];
        return NULL;
}

int qz_decode_thaw(json_object *o, qz_thaw_report **ret) {
        *ret = NULL;
        json_object *a;
        size_t n;
        if (!o || get_array(o, "released", &a, &n) < 0)
                return -EBADMSG;
        qz_thaw_report *r = calloc(1, sizeof(*r));
        if (!r || (n && !(r->released = calloc(n, sizeof(*r->released))))) {
                free(r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i), *fs = NULL;
                if (!json_object_is_type(e, json_type_object)) {
                        qz_thaw_report_free(r);
                        return -EBADMSG;
                }
                qz_release *rel = &r->released[i];
                json_object_object_get_ex(e, "filesystem", &fs);
                int d = decode_ref(fs, &rel->fs);
                if (d < 0) {
                        qz_thaw_report_free(r);
                        return d;
                }
                r->n_released++;
                rel->hold = (uint64_t)qz_json_int64_or(e, "hold", 0);
                rel->thawed = qz_json_bool_or(e, "thawed", false);
                rel->frozen_ms = qz_json_int64_or(e, "frozen_ms", -1);
        }
        *ret = r;
        return 0;
}
