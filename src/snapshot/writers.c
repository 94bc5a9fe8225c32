/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writers.c - a snapshot's writers (snapshot.h, qz_snap_writer): taken from
 * the hold quiesced reported at the check after the providers ended (what
 * each writer of each frozen filesystem answered), or the one writer that
 * made quiesced refuse the freeze, counted for the label,
 * and written to and read from the manifest's "writers"; and the writers a
 * caller expects (a job's writers =): registered in Status before the
 * freeze, acknowledged in the manifest after it.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jsonutil.h"
#include "snapshot.h"
#include "xalloc.h"

static const char *const phases[QZ_SNAP_PHASES] = {"prepare", "freeze", "thaw", "abort"};

static char *dup_or_null(const char *s) {
        return s ? xstrdup(s) : NULL;
}

void qz_snap_writers_free(qz_snap_writer *w, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(w[i].name);
                free(w[i].reason);
                free(w[i].filesystems);
                for (unsigned p = 0; p < QZ_SNAP_PHASES; p++)
                        free(w[i].phase[p].detail);
        }
        free(w);
}

void qz_snap_writers_from_hold(qz_manifest *m, const qz_hold *h) {
        qz_snap_writers_from_reports(m, h ? h->writers : NULL, h ? h->n_writers : 0);
}

void qz_snap_writers_from_reports(qz_manifest *m, const qz_writer_report *reports, size_t n) {
        qz_snap_writers_free(m->writers, m->n_writers);
        m->writers = NULL;
        m->n_writers = 0;
        if (!n)
                return;
        m->writers = calloc(n, sizeof(*m->writers));
        if (!m->writers)
                abort();
        for (size_t i = 0; i < n; i++) {
                const qz_writer_report *r = &reports[i];
                qz_snap_writer *w = &m->writers[m->n_writers++];
                w->name = xstrdup(r->name);
                w->freeze_id = (int64_t)r->freeze_id;
                w->required = r->required;
                w->acknowledged = r->acknowledged;
                w->lost = r->lost;
                w->reason = dup_or_null(r->reason);
                char *ids = xstrdup("");
                for (size_t k = 0; k < r->n_fs; k++) {
                        char *more = xasprintf("%s%s%s", ids, k ? "," : "", r->fs_ids[k]);
                        free(ids);
                        ids = more;
                }
                w->filesystems = ids;
                for (unsigned p = 0; p < QZ_SNAP_PHASES; p++) {
                        w->phase[p].asked = r->phase[p].asked;
                        memcpy(w->phase[p].answer, r->phase[p].answer, sizeof(w->phase[p].answer));
                        w->phase[p].detail = dup_or_null(r->phase[p].detail);
                        w->phase[p].ms = r->phase[p].ms;
                        w->phase[p].timed_out = r->phase[p].timed_out;
                }
        }
}

char *qz_snap_writer_refusal(const qz_manifest *m, const char **ret_name) {
        for (size_t i = 0; m && i < m->n_writers; i++)
                if (m->writers[i].refused && m->writers[i].name) {
                        if (ret_name)
                                *ret_name = m->writers[i].name;
                        return xasprintf("writer \"%s\" refused the freeze: %s", m->writers[i].name,
                                         m->writers[i].reason ? m->writers[i].reason : "(no reason given)");
                }
        return NULL;
}

size_t qz_snap_writers_unacknowledged(const qz_manifest *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->n_writers; i++)
                n += !m->writers[i].acknowledged;
        return n;
}

json_object *qz_snap_writers_to_json(const qz_manifest *m) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < m->n_writers; i++) {
                const qz_snap_writer *w = &m->writers[i];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(w->name ? w->name : ""));
                json_object_object_add(o, "freeze_id",
                                       w->freeze_id > 0 ? json_object_new_int64(w->freeze_id) : NULL);
                json_object_object_add(o, "filesystems",
                                       json_object_new_string(w->filesystems ? w->filesystems : ""));
                json_object_object_add(o, "required", json_object_new_boolean(w->required));
                json_object_object_add(o, "acknowledged", json_object_new_boolean(w->acknowledged));
                json_object_object_add(o, "lost", json_object_new_boolean(w->lost));
                if (w->refused)
                        json_object_object_add(o, "refused", json_object_new_boolean(true));
                json_object_object_add(o, "reason", w->reason ? json_object_new_string(w->reason) : NULL);
                for (unsigned p = 0; p < QZ_SNAP_PHASES; p++) {
                        const qz_snap_writer_phase *ph = &w->phase[p];
                        if (!ph->asked)
                                continue;
                        json_object *x = json_object_new_object();
                        json_object_object_add(x, "answer", json_object_new_string(ph->answer));
                        json_object_object_add(x, "detail",
                                               ph->detail ? json_object_new_string(ph->detail) : NULL);
                        json_object_object_add(x, "ms", ph->ms >= 0 ? json_object_new_int64(ph->ms) : NULL);
                        json_object_object_add(x, "timed_out", json_object_new_boolean(ph->timed_out));
                        json_object_object_add(o, phases[p], x);
                }
                json_object_array_add(a, o);
        }
        return a;
}

static char *get_str(json_object *o, const char *key) {
        const char *s = qz_json_get_string(o, key);
        return s ? xstrdup(s) : NULL;
}

void qz_snap_writers_from_json(qz_manifest *m, json_object *a) {
        size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
        m->writers = n ? calloc(n, sizeof(*m->writers)) : NULL;
        if (n && !m->writers)
                abort();
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(a, i);
                if (!json_object_is_type(o, json_type_object))
                        continue;
                qz_snap_writer *w = &m->writers[m->n_writers++];
                w->name = get_str(o, "name");
                w->freeze_id = qz_json_int64_or(o, "freeze_id", 0);
                w->filesystems = get_str(o, "filesystems");
                w->required = qz_json_bool_or(o, "required", false);
                w->acknowledged = qz_json_bool_or(o, "acknowledged", false);
                w->lost = qz_json_bool_or(o, "lost", false);
                w->refused = qz_json_bool_or(o, "refused", false);
                w->reason = get_str(o, "reason");
                for (unsigned p = 0; p < QZ_SNAP_PHASES; p++) {
                        json_object *x;
                        qz_snap_writer_phase *ph = &w->phase[p];
                        ph->ms = -1;
                        if (!json_object_object_get_ex(o, phases[p], &x) ||
                            !json_object_is_type(x, json_type_object))
                                continue;
                        ph->asked = true;
                        const char *ans = qz_json_get_string(x, "answer");
                        snprintf(ph->answer, sizeof(ph->answer), "%s", ans ? ans : "none");
                        ph->detail = get_str(x, "detail");
                        ph->ms = qz_json_int64_or(x, "ms", -1);
                        ph->timed_out = qz_json_bool_or(x, "timed_out", false);
                }
        }
}

/* ---- the writers a caller expects ---------------------------------------- */

const qz_writer_status *qz_snap_writer_registered(const qz_status *s, const char *name,
                                                  const char *const *ids, size_t n, size_t *ret_fs) {
        for (size_t i = 0; s && i < s->n_writers; i++) {
                const qz_writer_status *w = &s->writers[i];
                if (strcmp(w->name, name) != 0)
                        continue;
                for (size_t k = 0; k < n; k++)
                        for (size_t f = 0; f < w->n_fs; f++)
                                if (strcmp(w->fs[f].id, ids[k]) == 0) {
                                        if (ret_fs)
                                                *ret_fs = k;
                                        return w;
                                }
        }
        return NULL;
}

/* "A, B or C" of names[0..n) (malloc'd) */
static char *either(const char *const *names, size_t n) {
        char *t = xstrdup("");
        for (size_t i = 0; i < n; i++) {
                char *u = xasprintf("%s%s%s", t, i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
                free(t);
                t = u;
        }
        return t;
}

char *qz_snap_writer_missing(const qz_status *s, const char *name, const char *const *names, size_t n) {
        _cleanup_free_ char *fs = either(names, n);
        char *text = xasprintf("writer \"%s\" is not registered with quiesced for %s", name, fs);
        for (size_t i = 0; s && i < s->n_writers; i++) {
                const qz_writer_status *w = &s->writers[i];
                if (strcmp(w->name, name) != 0)
                        continue;
                char *u = xasprintf("%s (a writer of that name, pid %ld, is registered for %s%s only)", text,
                                    (long)w->pid, w->n_fs ? w->fs[0].mountpoint : "no filesystem",
                                    w->n_fs > 1 ? " and others" : "");
                free(text);
                return u;
        }
        return text;
}

bool qz_snap_writer_acknowledged(const qz_manifest *m, const char *name, char **ret_why) {
        bool seen = false;
        for (size_t i = 0; i < m->n_writers; i++) {
                const qz_snap_writer *w = &m->writers[i];
                if (!w->name || strcmp(w->name, name) != 0)
                        continue;
                seen = true;
                if (!w->acknowledged) {
                        if (ret_why)
                                *ret_why = xasprintf("writer \"%s\" did not acknowledge the freeze: %s", name,
                                                     w->reason ? w->reason : "(no reason recorded)");
                        return false;
                }
        }
        if (!seen && ret_why)
                *ret_why = xasprintf("writer \"%s\" was not asked: it was not registered for the frozen "
                                     "filesystems when the freeze began",
                                     name);
        return seen;
}
