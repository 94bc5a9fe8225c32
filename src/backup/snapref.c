/* snapref.c - a snapshot named in the store, read from its manifest
 * (docs/snapshots.md, format 1). Interim: to be replaced by the manifest API
 * of src/snapshot when that lands.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"

#define DEFAULT_STORE "/var/lib/quiesce/snapshots"

const char *bk_store_dir(const char *dir) {
        if (dir && *dir)
                return dir;
        const char *e = getenv("QUIESCE_STORE");
        return e && *e ? e : DEFAULT_STORE;
}

static char *get_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return strdup(json_object_get_string(v));
}

static int64_t get_int(json_object *o, const char *key, int64_t dflt) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return dflt;
        return json_object_get_int64(v);
}

static bool get_bool(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

void bk_snapshot_free(struct bk_snapshot *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_fs; i++) {
                struct bk_snapshot_fs *f = &s->fs[i];
                free(f->path);
                free(f->mountpoint);
                free(f->id);
                free(f->fstype);
                free(f->source);
                free(f->backing_file);
                free(f->snapshot);
        }
        free(s->fs);
        free(s->name);
        free(s->created);
        free(s->label);
        free(s->provider);
        free(s->manifest_path);
        free(s);
}

int bk_snapshot_load(const char *store, const char *name, struct bk_snapshot **ret, char *err,
                     size_t errlen) {
        if (!*name || strchr(name, '/') || name[0] == '.') {
                snprintf(err, errlen, "'%s': not a snapshot name", name);
                return -EINVAL;
        }
        char *path;
        if (asprintf(&path, "%s/%s.json", bk_store_dir(store), name) < 0)
                return -ENOMEM;
        json_object *o = json_object_from_file(path);
        if (!o) {
                FILE *f = fopen(path, "r");
                int r = f ? -EBADMSG : -errno;
                if (f)
                        fclose(f);
                if (r == -ENOENT)
                        snprintf(err, errlen, "snapshot '%s' not found (no %s)", name, path);
                else
                        snprintf(err, errlen, "%s: cannot read the manifest: %s", path,
                                 r == -EBADMSG ? "not valid JSON" : strerror(-r));
                free(path);
                return r;
        }
        struct bk_snapshot *s = calloc(1, sizeof(*s));
        json_object *fss;
        int r = 0;
        if (!s) {
                r = -ENOMEM;
                goto out;
        }
        s->manifest_path = path;
        path = NULL;
        if (get_int(o, "format", 0) != 1) {
                snprintf(err, errlen, "%s: unknown manifest format", s->manifest_path);
                r = -EBADMSG;
                goto out;
        }
        s->name = get_str(o, "name");
        s->created = get_str(o, "created");
        s->label = get_str(o, "label");
        s->provider = get_str(o, "provider");
        s->frozen_ms = get_int(o, "frozen_ms", -1);
        if (!s->name || !s->label || !s->provider || !json_object_object_get_ex(o, "filesystems", &fss) ||
            !json_object_is_type(fss, json_type_array) || json_object_array_length(fss) == 0) {
                snprintf(err, errlen, "%s: the manifest lacks name, label, provider or filesystems",
                         s->manifest_path);
                r = -EBADMSG;
                goto out;
        }
        s->n_fs = json_object_array_length(fss);
        s->fs = calloc(s->n_fs, sizeof(*s->fs));
        if (!s->fs) {
                s->n_fs = 0;
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < s->n_fs; i++) {
                json_object *f = json_object_array_get_idx(fss, i);
                struct bk_snapshot_fs *d = &s->fs[i];
                d->path = get_str(f, "path");
                d->mountpoint = get_str(f, "mountpoint");
                d->id = get_str(f, "id");
                d->fstype = get_str(f, "fstype");
                d->source = get_str(f, "source");
                d->backing_file = get_str(f, "backing_file");
                d->snapshot = get_str(f, "snapshot");
                d->size_bytes = (uint64_t)get_int(f, "size_bytes", 0);
                d->stall_ms = get_int(f, "stall_ms", -1);
                d->frozen_throughout = get_bool(f, "frozen_throughout");
                if (!d->mountpoint || !d->fstype || !d->snapshot) {
                        snprintf(err, errlen, "%s: filesystem %zu lacks mountpoint, fstype or snapshot",
                                 s->manifest_path, i);
                        r = -EBADMSG;
                        goto out;
                }
        }
out:
        json_object_put(o);
        free(path);
        if (r < 0)
                bk_snapshot_free(s);
        else
                *ret = s;
        return r;
}
