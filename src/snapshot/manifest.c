/* SPDX-License-Identifier: GPL-2.0-or-later */
/* manifest.c - the snapshot manifest (STORE/NAME.json): the structs of
 * snapshot.h to and from JSON, the store directory, atomic writes, listing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonutil.h"
#include "snapshot.h"
#include "xalloc.h"

char *qz_store_dir(const char *opt) {
        const char *env = getenv(QZ_STORE_ENV);
        const char *d = opt && *opt ? opt : env && *env ? env : QZ_DEFAULT_STORE;
        char *s = strdup(d);
        if (!s)
                abort();
        size_t n = strlen(s);
        while (n > 1 && s[n - 1] == '/')
                s[--n] = '\0';
        return s;
}

bool qz_snapshot_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > QZ_SNAPSHOT_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-' || c == '+'))
                        return false;
        }
        return true;
}

void qz_snapshot_default_name(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y%m%d-%H%M%S", &tm);
}

qz_manifest *qz_manifest_new(void) {
        qz_manifest *m = calloc(1, sizeof(*m));
        if (!m)
                abort();
        m->format = QZ_MANIFEST_FORMAT;
        m->label = QZ_LABEL_CRASH;
        m->hold = -1;
        m->frozen_ms = -1;
        return m;
}

static void fs_done(qz_snap_fs *f) {
        free(f->path);
        free(f->mountpoint);
        free(f->fstype);
        free(f->source);
        free(f->backing_file);
        free(f->provider);
        free(f->subvolume);
        free(f->snapshot);
        free(f->snapshot_uuid);
        free(f->error);
        free(f->output);
        free(f->lvm_origin);
        free(f->lvm_snapshot);
        free(f->proof.probe);
        free(f->proof.device);
        free(f->proof.breach);
}

static void hook_done(qz_snap_hook *h) {
        free(h->name);
        free(h->phase);
        free(h->refused);
        free(h->output);
}

void qz_manifest_free(qz_manifest *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n_fs; i++)
                fs_done(&m->fs[i]);
        for (size_t i = 0; i < m->n_hooks; i++)
                hook_done(&m->hooks[i]);
        for (size_t i = 0; i < m->n_notes; i++)
                free(m->notes[i]);
        free(m->fs);
        free(m->hooks);
        qz_snap_writers_free(m->writers, m->n_writers);
        free(m->notes);
        free(m->name);
        free(m->created);
        free(m->label_reason);
        free(m->provider);
        free(m->exec_delete);
        free(m->file);
        free(m);
}

qz_label qz_manifest_proven_label(const qz_manifest *m, const char **why) {
        if (why)
                *why = NULL;
        if (m->label == QZ_LABEL_CRASH)
                return m->label;
        for (size_t i = 0; i < m->n_fs; i++) {
                const qz_snap_fs *f = &m->fs[i];
                if (f->atomic)
                        continue;
                if (f->proof.known && !f->proof.held) {
                        if (why)
                                *why = f->proof.breach ? f->proof.breach
                                                       : "its proof records a breach of the freeze";
                        return QZ_LABEL_CRASH;
                }
                if (f->frozen && !f->frozen_throughout) {
                        if (why)
                                *why = "a filesystem did not stay frozen until its snapshot ended";
                        return QZ_LABEL_CRASH;
                }
        }
        return m->label;
}

bool qz_manifest_incomplete(const qz_manifest *m) {
        for (size_t i = 0; i < m->n_fs; i++)
                if (m->fs[i].error || !m->fs[i].snapshot)
                        return true;
        return m->n_fs == 0;
}

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

/* ---- the store ---- */

static char *manifest_path(const char *store, const char *name) {
        char *p;
        if (asprintf(&p, "%s/%s.json", store, name) < 0)
                abort();
        return p;
}

bool qz_manifest_exists(const char *store, const char *name) {
        char *p = manifest_path(store, name);
        bool e = access(p, F_OK) == 0 || errno != ENOENT;
        free(p);
        return e;
}

static int read_file(const char *path, char **ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        size_t cap = 8192, len = 0;
        char *buf = malloc(cap);
        if (!buf)
                abort();
        for (;;) {
                if (len + 1 >= cap) {
                        if (cap >= 16 * 1024 * 1024) {
                                free(buf);
                                close(fd);
                                return -EFBIG;
                        }
                        cap *= 2;
                        buf = realloc(buf, cap);
                        if (!buf)
                                abort();
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        free(buf);
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

int qz_manifest_load(const char *store, const char *name, qz_manifest **ret) {
        *ret = NULL;
        if (!qz_snapshot_name_valid(name))
                return -ENOENT;
        char *p = manifest_path(store, name), *text = NULL;
        int r = read_file(p, &text);
        if (r < 0) {
                free(p);
                return r;
        }
        r = qz_manifest_from_json(text, ret);
        free(text);
        if (r < 0) {
                free(p);
                return r;
        }
        if (strcmp((*ret)->name, name) != 0) {
                qz_manifest_free(*ret);
                *ret = NULL;
                free(p);
                return -EBADMSG;
        }
        (*ret)->file = p;
        return 0;
}

static int write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, s, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                s += w;
                n -= (size_t)w;
        }
        return 0;
}

int qz_manifest_write(const char *store, qz_manifest *m) {
        if (!qz_snapshot_name_valid(m->name))
                return -EINVAL;
        char *final = manifest_path(store, m->name), *tmp;
        if (asprintf(&tmp, "%s/.%s.json.XXXXXX", store, m->name) < 0)
                abort();
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                free(tmp);
                free(final);
                return r;
        }
        char *text = qz_manifest_to_json(m);
        int r = write_all(fd, text, strlen(text));
        if (r == 0)
                r = write_all(fd, "\n", 1);
        free(text);
        if (r == 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                free(tmp);
                free(final);
                return r;
        }
        int dfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        free(tmp);
        free(m->file);
        m->file = final;
        return 0;
}

static int cmp_manifest(const void *a, const void *b) {
        const qz_manifest *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

int qz_manifest_list(const char *store, qz_manifest ***ret, size_t *n, size_t *n_bad) {
        *ret = NULL;
        *n = 0;
        if (n_bad)
                *n_bad = 0;
        DIR *d = opendir(store);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        size_t cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                char name[QZ_SNAPSHOT_NAME_MAX + 8];
                if (len - 5 >= sizeof(name))
                        continue;
                memcpy(name, de->d_name, len - 5);
                name[len - 5] = '\0';
                qz_manifest *m;
                if (qz_manifest_load(store, name, &m) < 0) {
                        if (n_bad)
                                (*n_bad)++;
                        continue;
                }
                if (*n == cap) {
                        cap = cap ? cap * 2 : 16;
                        *ret = realloc(*ret, cap * sizeof(**ret));
                        if (!*ret)
                                abort();
                }
                (*ret)[(*n)++] = m;
        }
        closedir(d);
        if (*n)
                qsort(*ret, *n, sizeof(**ret), cmp_manifest);
        return 0;
}

void qz_manifest_list_free(qz_manifest **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                qz_manifest_free(v[i]);
        free(v);
}
