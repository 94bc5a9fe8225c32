/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prune_archives.c - the retention policy over a backup target directory
 * (prune.h): an archive is known by its sidecar ARCHIVE.manifest.json (the
 * manifest of the snapshot it was made from, written by quiesce backup
 * --to once the archive is in place), which gives its job, label and time.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "prune.h"
#include "xalloc.h"

QZ_DEFINE_POINTER_CLEANUP(qz_manifest, qz_manifest_free)

/* One sidecar into e; false when it is not ours to judge (not a manifest). */
static bool classify(const char *dir, const char *file, const char *job, qz_prune_entry *e,
                     qz_snapshot_msg_fn msg, void *userdata) {
        size_t len = strlen(file) - strlen(QZ_ARCHIVE_SIDECAR_SUFFIX);
        _cleanup_free_ char *sidecar = xasprintf("%s/%s", dir, file);
        _cleanup_(qz_manifest_freep) qz_manifest *m = NULL;
        int r = qz_manifest_load_path(sidecar, &m);
        if (r < 0) {
                qz_snapshot_tell(msg, userdata, "%s: %s; its archive is left alone", sidecar,
                                 r == -EBADMSG ? "not a quiesce snapshot manifest" : strerror(-r));
                return false;
        }
        if (job && !(m->job && strcmp(m->job, job) == 0))
                return false;
        e->name = xasprintf("%.*s", (int)len, file);
        e->path = xasprintf("%s/%s", dir, e->name);
        e->created = xstrdup(m->created);
        e->job = xstrdup(m->job);
        e->snapshot = xstrdup(m->name);
        qz_label label = qz_manifest_proven_label(m, NULL);
        e->label = xstrdup(qz_label_name(label));
        struct stat st;
        if (!qz_prune_parse_time(m->created, &e->time)) {
                e->kind = QZ_RETAIN_IN_PROGRESS;
                e->why = xasprintf("no readable creation time in %s", sidecar);
        } else if (stat(e->path, &st) < 0 || !S_ISREG(st.st_mode)) {
                e->kind = QZ_RETAIN_BROKEN;
                e->why = xasprintf("%s is missing", e->path);
        } else if (qz_manifest_incomplete(m)) {
                e->kind = QZ_RETAIN_BROKEN;
                e->why = xstrdup("made from an incomplete snapshot");
        } else
                e->kind = label == QZ_LABEL_CRASH ? QZ_RETAIN_CRASH : QZ_RETAIN_CONSISTENT;
        return true;
}

static int remove_archive(qz_prune_entry *e, qz_snapshot_msg_fn msg, void *userdata) {
        if (unlink(e->path) < 0 && errno != ENOENT) {
                int r = -errno;
                e->error = xasprintf("cannot remove %s: %s", e->path, strerror(-r));
                qz_snapshot_tell(msg, userdata, "%s", e->error);
                return r;
        }
        _cleanup_free_ char *sidecar = xasprintf("%s" QZ_ARCHIVE_SIDECAR_SUFFIX, e->path);
        if (unlink(sidecar) < 0 && errno != ENOENT) {
                int r = -errno;
                e->error = xasprintf("removed %s, but not %s: %s", e->path, sidecar, strerror(-r));
                qz_snapshot_tell(msg, userdata, "%s", e->error);
                return r;
        }
        return 0;
}

int qz_archive_prune(const char *dir, const char *job, const qz_retention *policy, bool dry_run,
                     qz_snapshot_msg_fn msg, void *userdata, qz_prune_result *ret) {
        memset(ret, 0, sizeof(*ret));
        if (qz_retention_empty(policy))
                return -EINVAL;
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        size_t cap = 0;
        struct dirent *de;
        const size_t sl = strlen(QZ_ARCHIVE_SIDECAR_SUFFIX);
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len <= sl ||
                    strcmp(de->d_name + len - sl, QZ_ARCHIVE_SIDECAR_SUFFIX))
                        continue;
                if (ret->n == cap) {
                        cap = cap ? cap * 2 : 16;
                        ret->v = realloc(ret->v, cap * sizeof(*ret->v));
                        if (!ret->v)
                                abort();
                }
                memset(&ret->v[ret->n], 0, sizeof(ret->v[ret->n]));
                if (classify(dir, de->d_name, job, &ret->v[ret->n], msg, userdata))
                        ret->n++;
        }
        closedir(d);
        int r = qz_prune_decide(policy, ret);
        if (r < 0 || dry_run)
                return r;
        for (unsigned o = 1; o <= ret->n_remove; o++)
                for (size_t i = 0; i < ret->n; i++)
                        if (ret->v[i].order == o) {
                                if (remove_archive(&ret->v[i], msg, userdata) == 0) {
                                        ret->v[i].removed = true;
                                        ret->n_removed++;
                                } else
                                        ret->n_failed++;
                        }
        return ret->n_failed ? -EIO : 0;
}
