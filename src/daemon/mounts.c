/* mounts.c - filesystem identity from the mount table (see mounts.h). The
 * table is /proc/self/mountinfo, parsed here (not by libmount, which with
 * libblkid, libselinux and libpcre2 cost quiesced about 0.6 MiB of resident,
 * locked memory), cached, and reloaded only after the kernel signals a
 * change on it, so a nested freeze costs no parse.
 */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOOP_MAJOR 7
#define DELETED_SUFFIX " (deleted)"

typedef struct mnt_entry {
        uint64_t id;
        dev_t devno;
        const char *target, *fstype, *source; /* in text; source NULL for "none" */
} mnt_entry;

typedef struct mnt_table {
        char *text; /* the file, fields unescaped and NUL-terminated in place */
        mnt_entry *v;
        size_t n;
} mnt_table;

struct qz_mounts {
        mnt_table *table;
        bool stale;
        int change_fd;
};

static void table_free(mnt_table *t) {
        if (!t)
                return;
        free(t->text);
        free(t->v);
        free(t);
}

/* Cuts the next space-separated field out of *p; NULL at the end of the line. */
static char *next_field(char **p) {
        char *s = *p;
        while (*s == ' ')
                s++;
        if (!*s)
                return NULL;
        char *e = strchr(s, ' ');
        if (e) {
                *e = '\0';
                *p = e + 1;
        } else {
                *p = s + strlen(s);
        }
        return s;
}

/* The kernel writes space, tab, newline and backslash as \ooo (mangle). */
static char *unmangle(char *s) {
        char *w = s;
        for (const char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else {
                        *w++ = *r++;
                }
        }
        *w = '\0';
        return s;
}

/* "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
static bool parse_line(char *line, mnt_entry *e) {
        char *p = line, *f;
        char *id = next_field(&p), *parent = next_field(&p), *majmin = next_field(&p), *root = next_field(&p);
        char *target = next_field(&p);
        if (!id || !parent || !majmin || !root || !target)
                return false;
        while ((f = next_field(&p)) && strcmp(f, "-") != 0)
                ; /* mount options, optional fields */
        char *fstype = f ? next_field(&p) : NULL, *source = fstype ? next_field(&p) : NULL;
        unsigned maj, min;
        char *end;
        e->id = strtoull(id, &end, 10);
        if (*end || sscanf(majmin, "%u:%u", &maj, &min) != 2 || !fstype)
                return false;
        e->devno = makedev(maj, min);
        e->target = unmangle(target);
        size_t tl = strlen(target), sl = strlen(DELETED_SUFFIX);
        if (tl > sl && strcmp(target + tl - sl, DELETED_SUFFIX) == 0)
                target[tl - sl] = '\0';
        e->fstype = unmangle(fstype);
        e->source = source ? unmangle(source) : NULL;
        if (e->source && strcmp(e->source, "none") == 0)
                e->source = NULL;
        return true;
}

static int table_read(mnt_table **ret) {
        int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        size_t len = 0, cap = 16384;
        char *text = malloc(cap);
        for (;;) {
                if (!text) {
                        close(fd);
                        return -ENOMEM;
                }
                if (cap - len < 4096) {
                        char *b = realloc(text, cap * 2);
                        if (!b)
                                free(text);
                        text = b;
                        cap *= 2;
                        continue;
                }
                ssize_t n = read(fd, text + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = -errno;
                        free(text);
                        close(fd);
                        return e;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        text[len] = '\0';
        size_t lines = 0;
        for (size_t i = 0; i < len; i++)
                lines += text[i] == '\n';
        mnt_table *t = calloc(1, sizeof(*t));
        mnt_entry *v = calloc(lines + 1, sizeof(*v));
        if (!t || !v) {
                free(t), free(v), free(text);
                return -ENOMEM;
        }
        t->text = text;
        t->v = v;
        for (char *line = text, *nl; line && *line; line = nl) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl++ = '\0';
                if (t->n <= lines && parse_line(line, &v[t->n]))
                        t->n++;
        }
        *ret = t;
        return 0;
}

qz_mounts *qz_mounts_new(void) {
        qz_mounts *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->stale = true;
        m->change_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        return m;
}

void qz_mounts_free(qz_mounts *m) {
        if (!m)
                return;
        table_free(m->table);
        if (m->change_fd >= 0)
                close(m->change_fd);
        free(m);
}

int qz_mounts_change_fd(qz_mounts *m) {
        return m->change_fd;
}

void qz_mounts_invalidate(qz_mounts *m) {
        m->stale = true;
}

static int reload(qz_mounts *m) {
        if (!m->stale && m->table)
                return 0;
        mnt_table *t = NULL;
        int r = table_read(&t);
        if (r < 0)
                return r;
        table_free(m->table);
        m->table = t;
        m->stale = false;
        return 0;
}

static int mount_id_of(int fd, uint64_t *ret, mode_t *ret_mode) {
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID | STATX_TYPE | STATX_MODE, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID) || !(sx.stx_mask & STATX_TYPE))
                return -EOPNOTSUPP;
        *ret = sx.stx_mnt_id;
        if (ret_mode)
                *ret_mode = sx.stx_mode;
        return 0;
}

static const mnt_entry *find_by_id(const mnt_table *t, uint64_t id) {
        for (size_t i = 0; i < t->n; i++)
                if (t->v[i].id == id)
                        return &t->v[i];
        return NULL;
}

static const mnt_entry *find_by_devno(const mnt_table *t, dev_t devno) {
        for (size_t i = 0; i < t->n; i++)
                if (t->v[i].devno == devno)
                        return &t->v[i];
        return NULL;
}

/* The descriptor's mount is not in our mount namespace: the client lives in
 * another one, or we do (systemd's ProtectSystem=, PrivateTmp= ... give the
 * service a namespace of its own, whose copies of the host's mounts have
 * other mount ids). The same superblock is then found, in our table, through
 * the descriptor's path if that names the very same inode here, or else by
 * its device number (right for every filesystem but a btrfs subvolume other
 * than the top one, whose st_dev is its own). */
static const mnt_entry *find_foreign(const mnt_table *t, int fd) {
        struct stat st, here;
        if (fstat(fd, &st) < 0)
                return NULL;
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n > 0 && path[0] == '/') {
                path[n] = '\0';
                int pfd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
                uint64_t id = 0;
                if (pfd >= 0 && fstat(pfd, &here) == 0 && here.st_dev == st.st_dev &&
                    here.st_ino == st.st_ino && mount_id_of(pfd, &id, NULL) == 0) {
                        const mnt_entry *fs = find_by_id(t, id);
                        close(pfd);
                        if (fs)
                                return fs;
                } else if (pfd >= 0) {
                        close(pfd);
                }
        }
        return find_by_devno(t, st.st_dev);
}

int qz_mounts_identify_fd(qz_mounts *m, int fd, qz_mount_info *ret) {
        uint64_t id = 0;
        int r = mount_id_of(fd, &id, &ret->mode);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < 3; attempt++) {
                r = reload(m);
                if (r < 0)
                        return r;
                const mnt_entry *fs = attempt < 2 ? find_by_id(m->table, id) : find_foreign(m->table, fd);
                if (fs) {
                        ret->devno = fs->devno;
                        snprintf(ret->id, sizeof(ret->id), "%u:%u", major(ret->devno), minor(ret->devno));
                        ret->mountpoint = fs->target;
                        ret->fstype = fs->fstype;
                        ret->source = fs->source;
                        if (!ret->mountpoint)
                                ret->mountpoint = "?";
                        if (!ret->fstype)
                                ret->fstype = "?";
                        if (!ret->source)
                                ret->source = "none";
                        return 0;
                }
                m->stale = true; /* a mount newer than our copy of the table */
        }
        return -ENOENT;
}

dev_t qz_mounts_loop_host(qz_mounts *m, const char *source) {
        struct stat st;
        if (!source || stat(source, &st) < 0 || !S_ISBLK(st.st_mode) || major(st.st_rdev) != LOOP_MAJOR)
                return 0;
        char sys[128], backing[4096];
        snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file", major(st.st_rdev),
                 minor(st.st_rdev));
        FILE *f = fopen(sys, "re");
        if (!f)
                return 0;
        bool ok = fgets(backing, sizeof(backing), f) != NULL;
        fclose(f);
        if (!ok)
                return 0;
        backing[strcspn(backing, "\n")] = '\0';
        int fd = open(backing, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return 0;
        qz_mount_info info;
        int r = qz_mounts_identify_fd(m, fd, &info);
        close(fd);
        return r < 0 ? 0 : info.devno;
}

dev_t qz_mounts_host_of_devno(qz_mounts *m, dev_t devno) {
        if (reload(m) < 0)
                return 0;
        const mnt_entry *fs = find_by_devno(m->table, devno);
        if (!fs || !fs->source)
                return 0;
        char source[4096];
        snprintf(source, sizeof(source), "%s", fs->source);
        return qz_mounts_loop_host(m, source);
}
