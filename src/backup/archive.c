/* SPDX-License-Identifier: GPL-2.0-or-later */
/* archive.c - the backup archive: a pax tar written with libarchive
 * (.tar, .tar.gz, .tar.zst by the name's suffix) from trees read with
 * archive_read_disk (modes, owners, times, symlinks, hardlinks, xattrs,
 * ACLs, sparse files), through a temporary file renamed into place.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "cleanup.h"
#include "error.h"
#include "prune.h"
#include "snapshot.h"

struct bk_archive {
        struct archive *w;
        struct archive_entry_linkresolver *links;
        int fd;
        int tmp_handle;
        char *path, *tmp;
};

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a > b && strcmp(s + a - b, suffix) == 0;
}

const char *bk_archive_compression(const char *path) {
        if (ends_with(path, ".tar"))
                return "none";
        if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz"))
                return "gzip";
        if (ends_with(path, ".tar.zst") || ends_with(path, ".tzst"))
                return "zstd";
        return NULL;
}

int bk_archive_open(const char *path, struct bk_archive **ret, char **ret_error) {
        const char *comp = bk_archive_compression(path);
        if (!comp) {
                qz_set_error(ret_error, "%s: unsupported archive name (use .tar, .tar.gz or .tar.zst)", path);
                return -EINVAL;
        }
        struct bk_archive *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->fd = -1;
        char *copy = strdup(path);
        a->path = strdup(path);
        if (!copy || !a->path ||
            asprintf(&a->tmp, "%s/.%s.partial-XXXXXX", dirname(copy), basename(a->path)) < 0) {
                free(copy);
                free(a->path);
                free(a);
                return -ENOMEM;
        }
        free(copy);
        a->fd = mkostemp(a->tmp, O_CLOEXEC);
        if (a->fd < 0) {
                int r = -errno;
                qz_set_error(ret_error, "%s: cannot create: %s", path, strerror(-r));
                free(a->tmp);
                free(a->path);
                free(a);
                return r;
        }
        a->tmp_handle = bk_cleanup_push(BK_FILE, a->tmp, 0);
        fchmod(a->fd, 0600); /* a backup holds everyone's files: root's eyes only */

        a->w = archive_write_new();
        a->links = archive_entry_linkresolver_new();
        int r = a->w && a->links ? archive_write_set_format_pax_restricted(a->w) : ARCHIVE_FATAL;
        if (r == ARCHIVE_OK && strcmp(comp, "gzip") == 0)
                r = archive_write_add_filter_gzip(a->w);
        else if (r == ARCHIVE_OK && strcmp(comp, "zstd") == 0)
                r = archive_write_add_filter_zstd(a->w);
        if (r == ARCHIVE_OK)
                r = archive_write_set_bytes_in_last_block(a->w, 1);
        if (r == ARCHIVE_OK)
                r = archive_write_open_fd(a->w, a->fd);
        if (r != ARCHIVE_OK) {
                qz_set_error(ret_error, "%s: cannot start the archive: %s", path,
                             a->w ? archive_error_string(a->w) : "out of memory");
                bk_archive_close(a, false, NULL, NULL);
                return -EIO;
        }
        archive_entry_linkresolver_set_strategy(a->links, archive_format(a->w));
        *ret = a;
        return 0;
}

/* prefix + the part of path below dir: "srv/data/etc/x" */
static char *archive_name(const char *path, const char *dir, const char *prefix) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        const char *rel = strncmp(path, dir, n) == 0 ? path + n : path;
        while (*rel == '/')
                rel++;
        char *name;
        int r;
        if (!*prefix)
                r = asprintf(&name, "%s", *rel ? rel : ".");
        else if (!*rel)
                r = asprintf(&name, "%s", prefix);
        else
                r = asprintf(&name, "%s/%s", prefix, rel);
        return r < 0 ? NULL : name;
}

static int write_all(struct bk_archive *a, const void *buf, size_t size, const char *name, char **ret_error) {
        const char *b = buf;
        while (size > 0) {
                la_ssize_t n = archive_write_data(a->w, b, size);
                if (n <= 0) {
                        if (bk_interrupted())
                                return -EINTR;
                        qz_set_error(ret_error, "%s: cannot write %s: %s", a->path, name,
                                     archive_error_string(a->w));
                        return -EIO;
                }
                b += n;
                size -= (size_t)n;
        }
        return 0;
}

/* Holes: zeros up to `to` (the pax writer stores only the data regions of a
 * sparse file, but wants the whole stream). */
static int write_zeros(struct bk_archive *a, int64_t from, int64_t to, const char *name, char **ret_error) {
        static const char zeros[65536];
        while (from < to) {
                size_t n = to - from > (int64_t)sizeof(zeros) ? sizeof(zeros) : (size_t)(to - from);
                int r = write_all(a, zeros, n, name, ret_error);
                if (r < 0)
                        return r;
                from += (int64_t)n;
        }
        return 0;
}

static int copy_data(struct bk_archive *a, struct archive *disk, struct archive_entry *e, const char *name,
                     struct bk_progress *p, struct bk_counts *c, char **ret_error) {
        int64_t pos = 0, size_total = archive_entry_size(e);
        for (;;) {
                if (bk_interrupted())
                        return -EINTR;
                const void *buf;
                size_t size;
                la_int64_t offset;
                int r = archive_read_data_block(disk, &buf, &size, &offset);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN) {
                        if (bk_interrupted())
                                return -EINTR;
                        qz_set_error(ret_error, "%s: cannot read: %s", name, archive_error_string(disk));
                        return -EIO;
                }
                if (offset > pos && (r = write_zeros(a, pos, offset, name, ret_error)) < 0)
                        return r;
                if ((r = write_all(a, buf, size, name, ret_error)) < 0)
                        return r;
                pos = offset + (int64_t)size;
                c->bytes += size;
                bk_progress_update(p, size, 0);
        }
        return pos < size_total ? write_zeros(a, pos, size_total, name, ret_error) : 0;
}

static int write_entry(struct bk_archive *a, struct archive *disk, struct archive_entry *e, const char *name,
                       struct bk_progress *p, struct bk_counts *c, char **ret_error) {
        int r = archive_write_header(a->w, e);
        if (r < ARCHIVE_WARN) {
                qz_set_error(ret_error, "%s: cannot write %s: %s", a->path, name, archive_error_string(a->w));
                return -EIO;
        }
        if (r == ARCHIVE_WARN)
                fprintf(stderr, "quiesce: %s: %s\n", name, archive_error_string(a->w));
        c->entries++;
        if (archive_entry_filetype(e) == AE_IFREG) {
                c->files++;
                bk_progress_update(p, 0, 1);
                if (!archive_entry_hardlink(e) && archive_entry_size(e) > 0)
                        return copy_data(a, disk, e, name, p, c, ret_error);
        }
        return 0;
}

/* DIR/.quiesce-snapshots: where the btrfs provider keeps its snapshots */
static bool is_snapshot_dir(const char *path, const char *dir) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        return strncmp(path, dir, n) == 0 && path[n] == '/' &&
               strcmp(path + n + 1, QZ_BTRFS_SNAPSHOT_DIR) == 0;
}

int bk_archive_add_tree(struct bk_archive *a, const char *dir, const char *prefix, struct bk_progress *p,
                        struct bk_counts *c, char **ret_error) {
        struct archive *disk = archive_read_disk_new();
        if (!disk)
                return -ENOMEM;
        int ret = 0;
        archive_read_disk_set_symlink_physical(disk);
        archive_read_disk_set_standard_lookup(disk);
        archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
        if (archive_read_disk_open(disk, dir) != ARCHIVE_OK) {
                qz_set_error(ret_error, "%s: cannot read: %s", dir, archive_error_string(disk));
                archive_read_free(disk);
                return -EIO;
        }
        for (;;) {
                if (bk_interrupted()) {
                        ret = -EINTR;
                        break;
                }
                struct archive_entry *e = archive_entry_new();
                if (!e) {
                        ret = -ENOMEM;
                        break;
                }
                int r = archive_read_next_header2(disk, e);
                if (r == ARCHIVE_EOF) {
                        archive_entry_free(e);
                        break;
                }
                if (r == ARCHIVE_RETRY) {
                        archive_entry_free(e);
                        continue;
                }
                if (r < ARCHIVE_WARN) {
                        qz_set_error(ret_error, "%s: %s", dir, archive_error_string(disk));
                        archive_entry_free(e);
                        ret = bk_interrupted() ? -EINTR : -EIO;
                        break;
                }
                if (r == ARCHIVE_WARN)
                        fprintf(stderr, "quiesce: %s: %s\n", archive_entry_pathname(e),
                                archive_error_string(disk));
                if (is_snapshot_dir(archive_entry_pathname(e), dir)) {
                        archive_entry_free(e); /* the btrfs provider's snapshots are not data */
                        continue;
                }
                archive_read_disk_descend(disk);

                char *name = archive_name(archive_entry_pathname(e), dir, prefix);
                if (!name) {
                        archive_entry_free(e);
                        ret = -ENOMEM;
                        break;
                }
                archive_entry_copy_pathname(e, name);
                struct archive_entry *sparse = NULL;
                archive_entry_linkify(a->links, &e, &sparse);
                if (e)
                        ret = write_entry(a, disk, e, name, p, c, ret_error);
                if (ret == 0 && sparse)
                        ret = write_entry(a, disk, sparse, name, p, c, ret_error);
                free(name);
                archive_entry_free(e);
                if (ret < 0)
                        break;
        }
        archive_read_close(disk);
        archive_read_free(disk);
        return ret;
}

int bk_archive_close(struct bk_archive *a, bool commit, uint64_t *archive_bytes, char **ret_error) {
        int r = 0;
        if (commit) {
                if (archive_write_close(a->w) != ARCHIVE_OK) {
                        qz_set_error(ret_error, "%s: cannot finish the archive: %s", a->path,
                                     archive_error_string(a->w));
                        r = -EIO;
                } else if (fsync(a->fd) < 0) {
                        r = -errno;
                        qz_set_error(ret_error, "%s: cannot write: %s", a->path, strerror(-r));
                }
        }
        if (a->w)
                archive_write_free(a->w); /* does not close the fd */
        if (a->links)
                archive_entry_linkresolver_free(a->links);
        struct stat st;
        if (r == 0 && commit && archive_bytes && fstat(a->fd, &st) == 0)
                *archive_bytes = (uint64_t)st.st_size;
        if (a->fd >= 0)
                close(a->fd);
        if (commit && r == 0) {
                if (rename(a->tmp, a->path) < 0) {
                        r = -errno;
                        qz_set_error(ret_error, "%s: cannot rename %s into place: %s", a->path, a->tmp,
                                     strerror(-r));
                } else {
                        bk_cleanup_pop(a->tmp_handle, false);
                        a->tmp_handle = 0;
                }
        }
        if (a->tmp_handle > 0)
                bk_cleanup_pop(a->tmp_handle, true);
        free(a->tmp);
        free(a->path);
        free(a);
        return commit ? r : 0;
}

int bk_archive_write_sidecar(const char *path, const qz_manifest *m, char **ret_error) {
        _cleanup_free_ char *sidecar = xasprintf("%s" QZ_ARCHIVE_SIDECAR_SUFFIX, path);
        _cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", sidecar);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return qz_error(ret_error, -errno, "cannot create %s: %s", tmp, strerror(errno));
        _cleanup_free_ char *text = qz_manifest_to_json(m);
        size_t len = strlen(text);
        int r = 0;
        if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
                r = errno ? -errno : -EIO;
        if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, sidecar) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return qz_error(ret_error, r, "cannot write %s: %s", sidecar, strerror(-r));
        }
        return 0;
}
