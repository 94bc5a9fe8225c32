/* SPDX-License-Identifier: GPL-2.0-or-later */
/* manifest.c - the snapshot manifest (STORE/NAME.json): the model's life
 * (new, free, proven label, incomplete), the store directory, names, atomic
 * writes, loading and listing. Its JSON text is manifest_json.c's.
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
        free(m->job);
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

int qz_manifest_load_path(const char *path, qz_manifest **ret) {
        *ret = NULL;
        char *text = NULL;
        int r = read_file(path, &text);
        if (r < 0)
                return r;
        r = qz_manifest_from_json(text, ret);
        free(text);
        if (r == 0)
                (*ret)->file = xstrdup(path);
        return r;
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
