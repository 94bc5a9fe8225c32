/* SPDX-License-Identifier: GPL-2.0-or-later */
/* manifest_json.c - a snapshot manifest to and from its JSON text: the
 * structs of snapshot.h, field by field. Files, the store and listing are
 * manifest.c's.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "snapshot.h"
#include "xalloc.h"

/* ---- to JSON ---- */

static void put_str(json_object *o, const char *key, const char *v) {
        json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void put_i64(json_object *o, const char *key, int64_t v, bool null_if_negative) {
        json_object_object_add(o, key, null_if_negative && v < 0 ? NULL : json_object_new_int64(v));
}

static void put_bool(json_object *o, const char *key, bool v) {
        json_object_object_add(o, key, json_object_new_boolean(v));
}

static json_object *proof_to_json(const qz_snap_proof *p) {
        json_object *o = json_object_new_object();
        put_bool(o, "verified", p->held);
        put_str(o, "probe", p->probe);
        put_i64(o, "probe_ms", p->probe_ms, true);
        put_str(o, "device", p->device);
        put_i64(o, "sectors_written", p->sectors_written, true);
        put_i64(o, "breaches", p->breaches, false);
        put_str(o, "breach", p->breach);
        put_str(o, "freeze_owner", p->foreign ? "another process" : "quiesce");
        return o;
}

static json_object *fs_to_json(const qz_snap_fs *f) {
        json_object *o = json_object_new_object();
        put_str(o, "path", f->path);
        put_str(o, "mountpoint", f->mountpoint);
        put_str(o, "id", f->id);
        put_str(o, "fstype", f->fstype);
        put_str(o, "source", f->source);
        put_str(o, "backing_file", f->backing_file);
        put_str(o, "provider", f->provider);
        if (f->subvolume)
                put_str(o, "subvolume", f->subvolume);
        put_str(o, "snapshot", f->snapshot);
        if (f->snapshot_uuid)
                put_str(o, "snapshot_uuid", f->snapshot_uuid);
        put_i64(o, "size_bytes", f->size_bytes, true);
        put_i64(o, "stall_ms", f->stall_ms, true);
        put_i64(o, "frozen_ms", f->frozen_ms, true);
        put_bool(o, "frozen", f->frozen);
        put_bool(o, "frozen_throughout", f->frozen_throughout);
        if (f->proof.known)
                json_object_object_add(o, "proof", proof_to_json(&f->proof));
        put_bool(o, "atomic", f->atomic);
        put_str(o, "error", f->error);
        if (f->output)
                put_str(o, "output", f->output);
        if (f->lvm_origin)
                put_str(o, "lvm_origin", f->lvm_origin);
        if (f->lvm_snapshot)
                put_str(o, "lvm_snapshot", f->lvm_snapshot);
        return o;
}

static json_object *hook_to_json(const qz_snap_hook *h) {
        json_object *o = json_object_new_object();
        put_str(o, "name", h->name);
        put_str(o, "phase", h->phase);
        put_i64(o, "exit_status", h->exit_status, true);
        put_i64(o, "signal", h->signal, false);
        put_i64(o, "duration_ms", h->duration_ms, false);
        put_bool(o, "timed_out", h->timed_out);
        put_str(o, "refused", h->refused);
        put_str(o, "output", h->output ? h->output : "");
        put_bool(o, "output_truncated", h->output_truncated);
        return o;
}

char *qz_manifest_to_json(const qz_manifest *m) {
        json_object *o = json_object_new_object();
        put_i64(o, "format", m->format, false);
        put_str(o, "name", m->name);
        put_str(o, "created", m->created);
        put_str(o, "label", qz_label_name(m->label));
        put_str(o, "label_reason", m->label_reason);
        put_str(o, "provider", m->provider);
        put_i64(o, "hold", m->hold, true);
        put_i64(o, "duration_ms", m->duration_ms, false);
        put_i64(o, "frozen_ms", m->frozen_ms, true);
        put_bool(o, "no_freeze", m->no_freeze);
        if (m->exec_delete)
                put_str(o, "exec_delete", m->exec_delete);
        if (m->job)
                put_str(o, "job", m->job);
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < m->n_fs; i++)
                json_object_array_add(a, fs_to_json(&m->fs[i]));
        json_object_object_add(o, "filesystems", a);
        a = json_object_new_array();
        for (size_t i = 0; i < m->n_hooks; i++)
                json_object_array_add(a, hook_to_json(&m->hooks[i]));
        json_object_object_add(o, "hooks", a);
        json_object_object_add(o, "writers", qz_snap_writers_to_json(m));
        a = json_object_new_array();
        for (size_t i = 0; i < m->n_notes; i++)
                json_object_array_add(a, json_object_new_string(m->notes[i]));
        json_object_object_add(o, "notes", a);
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
        char *s = strdup(t);
        json_object_put(o);
        if (!s)
                abort();
        return s;
}

/* ---- from JSON ---- */

/* A copy of the string o[key] (NULL when absent); aborts on OOM. */
static char *get_str(json_object *o, const char *key) {
        return xstrdup(qz_json_get_string(o, key));
}

/* The array o[key] into *ret (NULL when absent); its length. */
static size_t get_array(json_object *o, const char *key, json_object **ret) {
        *ret = qz_json_get_array(o, key);
        return *ret ? json_object_array_length(*ret) : 0;
}

int qz_manifest_from_json(const char *text, qz_manifest **ret) {
        *ret = NULL;
        json_object *o = json_tokener_parse(text);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        qz_manifest *m = qz_manifest_new();
        m->format = (int)qz_json_int64_or(o, "format", 0);
        m->name = get_str(o, "name");
        char *label = get_str(o, "label");
        if (m->format != QZ_MANIFEST_FORMAT || !m->name || qz_label_from_name(label, &m->label) < 0) {
                free(label);
                qz_manifest_free(m);
                json_object_put(o);
                return -EBADMSG;
        }
        free(label);
        m->created = get_str(o, "created");
        m->label_reason = get_str(o, "label_reason");
        m->provider = get_str(o, "provider");
        m->hold = qz_json_int64_or(o, "hold", -1);
        m->duration_ms = qz_json_int64_or(o, "duration_ms", 0);
        m->frozen_ms = qz_json_int64_or(o, "frozen_ms", -1);
        m->no_freeze = qz_json_bool_or(o, "no_freeze", false);
        m->exec_delete = get_str(o, "exec_delete");
        m->job = get_str(o, "job"); /* optional: older manifests have none */

        json_object *a;
        size_t n = get_array(o, "filesystems", &a);
        m->fs = n ? calloc(n, sizeof(*m->fs)) : NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                qz_snap_fs *f = &m->fs[m->n_fs++];
                char *id = get_str(e, "id");
                snprintf(f->id, sizeof(f->id), "%s", id ? id : "");
                free(id);
                f->path = get_str(e, "path");
                f->mountpoint = get_str(e, "mountpoint");
                f->fstype = get_str(e, "fstype");
                f->source = get_str(e, "source");
                f->backing_file = get_str(e, "backing_file");
                f->provider = get_str(e, "provider");
                f->subvolume = get_str(e, "subvolume");
                f->snapshot = get_str(e, "snapshot");
                f->snapshot_uuid = get_str(e, "snapshot_uuid");
                f->size_bytes = qz_json_int64_or(e, "size_bytes", -1);
                f->stall_ms = qz_json_int64_or(e, "stall_ms", -1);
                f->frozen_ms = qz_json_int64_or(e, "frozen_ms", -1);
                f->frozen = qz_json_bool_or(e, "frozen", false);
                f->frozen_throughout = qz_json_bool_or(e, "frozen_throughout", false);
                json_object *pr = NULL;
                if (json_object_object_get_ex(e, "proof", &pr) && json_object_is_type(pr, json_type_object)) {
                        qz_snap_proof *p = &f->proof;
                        p->known = true;
                        p->held = qz_json_bool_or(pr, "verified", false);
                        p->probe = get_str(pr, "probe");
                        p->probe_ms = qz_json_int64_or(pr, "probe_ms", -1);
                        p->device = get_str(pr, "device");
                        p->sectors_written = qz_json_int64_or(pr, "sectors_written", -1);
                        p->breaches = qz_json_int64_or(pr, "breaches", 0);
                        p->breach = get_str(pr, "breach");
                        char *owner = get_str(pr, "freeze_owner");
                        p->foreign = owner && strcmp(owner, "quiesce") != 0;
                        free(owner);
                }
                f->atomic = qz_json_bool_or(e, "atomic", false);
                f->error = get_str(e, "error");
                f->output = get_str(e, "output");
                f->lvm_origin = get_str(e, "lvm_origin");
                f->lvm_snapshot = get_str(e, "lvm_snapshot");
        }
        n = get_array(o, "hooks", &a);
        m->hooks = n ? calloc(n, sizeof(*m->hooks)) : NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                qz_snap_hook *h = &m->hooks[m->n_hooks++];
                h->name = get_str(e, "name");
                h->phase = get_str(e, "phase");
                h->exit_status = (int)qz_json_int64_or(e, "exit_status", -1);
                h->signal = (int)qz_json_int64_or(e, "signal", 0);
                h->duration_ms = qz_json_int64_or(e, "duration_ms", 0);
                h->timed_out = qz_json_bool_or(e, "timed_out", false);
                h->refused = get_str(e, "refused");
                h->output = get_str(e, "output");
                h->output_truncated = qz_json_bool_or(e, "output_truncated", false);
        }
        json_object *wa = NULL;
        json_object_object_get_ex(o, "writers", &wa);
        qz_snap_writers_from_json(m, wa);
        n = get_array(o, "notes", &a);
        m->notes = n ? calloc(n, sizeof(*m->notes)) : NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i);
                if (json_object_is_type(e, json_type_string)) {
                        m->notes[m->n_notes] = strdup(json_object_get_string(e));
                        if (!m->notes[m->n_notes])
                                abort();
                        m->n_notes++;
                }
        }
        json_object_put(o);
        *ret = m;
        return 0;
}
