/* SPDX-License-Identifier: GPL-2.0-or-later */
/* throttle.c - the pre-flush throttle (see throttle.h): a registry of the
 * bdis being throttled, each with its saved settings, its reference count
 * (filesystems of one disk, a group's pre-flush and its freeze) and the
 * thread that ramps its max_bytes. Only freezer workers call it.
 */
#include "throttle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/btrfs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "sysfs.h"

#define RAMP_PERIOD_NS (20 * 1000000L)
#define RAMP_STACK (64 * 1024)
#define BDI_NAME_MAX 64
#define DEBUGFS "/sys/kernel/debug"
#define STATE_PREFIX "bdi-throttle."

struct qz_throttle_bdi {
        char name[BDI_NAME_MAX];
        int dirfd; /* /sys/class/bdi/NAME, O_PATH */
        unsigned refs;
        uint64_t key; /* for the guard */
        char old_strict[16], old_ratio_fine[32];
        char stats_path[128]; /* debugfs; "" : a fixed limit instead of the ramp */
        pthread_t ramp;
        pthread_mutex_t m;
        pthread_cond_t cond;
        bool stop;
        struct qz_throttle_bdi *next;
};

struct qz_throttle {
        int guard_sock;
        int state_dirfd; /* the runtime directory: one file per throttled bdi */
        bool enabled;
        pthread_mutex_t lock;
        qz_throttle_bdi *list;
        uint64_t next_key;
};

int64_t qz_throttle_limit(int64_t dirty) {
        int64_t want = dirty > 0 ? dirty + dirty / 5 : 0;
        return want < QZ_THROTTLE_FLOOR ? QZ_THROTTLE_FLOOR : want;
}

/* The number after "key:" at the start of a line (kB), or -1. */
static int64_t field_kb(const char *text, const char *key) {
        size_t kl = strlen(key);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                while (*p == ' ')
                        p++;
                if (strncmp(p, key, kl) != 0 || p[kl] != ':')
                        continue;
                char *end;
                long long v = strtoll(p + kl + 1, &end, 10);
                if (end == p + kl + 1 || v < 0 || v > INT64_MAX / 1024)
                        return -1;
                return (int64_t)v * 1024;
        }
        return -1;
}

int64_t qz_throttle_parse_bdi_stats(const char *text) {
        int64_t wb = field_kb(text, "BdiWriteback"), rc = field_kb(text, "BdiReclaimable");
        return wb < 0 || rc < 0 ? -1 : wb + rc;
}

static int write_text(int dirfd, const char *path, const char *value) {
        int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = write(fd, value, strlen(value));
        int e = errno;
        close(fd);
        return n < 0 ? -e : 0;
}

int qz_bdi_put_back(int dirfd, const char *strict_limit, const char *max_ratio_fine) {
        /* max_ratio_fine is the setting itself; max_bytes is derived from it */
        int r1 = write_text(dirfd, "max_ratio_fine", max_ratio_fine);
        int r2 = write_text(dirfd, "strict_limit", strict_limit);
        return r1 < 0 ? r1 : r2;
}

int qz_bdi_name(int fd, const char *fstype, dev_t devno, char *name, size_t size) {
        char path[192], buf[64];
        if (fstype && strcmp(fstype, "btrfs") == 0) {
                /* btrfs has a bdi of its own: /sys/fs/btrfs/FSID/bdi -> .../bdi/btrfs-N */
                struct btrfs_ioctl_fs_info_args info;
                memset(&info, 0, sizeof(info));
                if (ioctl(fd, BTRFS_IOC_FS_INFO, &info) < 0)
                        return -errno;
                const unsigned char *u = info.fsid;
                snprintf(path, sizeof(path),
                         "/sys/fs/btrfs/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x/"
                         "bdi",
                         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                         u[13], u[14], u[15]);
                char target[256];
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                if (n < 0)
                        return -errno;
                target[n] = '\0';
                const char *base = strrchr(target, '/');
                snprintf(name, size, "%s", base ? base + 1 : target);
                return 0;
        }
        if (major(devno) == 0)
                return -ENODEV; /* tmpfs, overlay, network filesystems: no block device */
        unsigned maj = major(devno), min = minor(devno);
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", maj, min);
        if (access(path, F_OK) == 0) {
                /* A partition writes through its disk's bdi. */
                snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../dev", maj, min);
                int r = qz_read_text_at(AT_FDCWD, path, buf, sizeof(buf));
                if (r < 0)
                        return r;
                if (sscanf(buf, "%u:%u", &maj, &min) != 2)
                        return -EINVAL;
        }
        snprintf(name, size, "%u:%u", maj, min);
        return 0;
}

/* What the bdi has dirty or under writeback, in bytes (debugfs), or -1. */
static int64_t bdi_dirty(qz_throttle_bdi *b) {
        char text[4096], path[128];
        pthread_mutex_lock(&b->m);
        snprintf(path, sizeof(path), "%s", b->stats_path);
        pthread_mutex_unlock(&b->m);
        if (!path[0] || qz_read_text_at(AT_FDCWD, path, text, sizeof(text)) < 0)
                return -1;
        return qz_throttle_parse_bdi_stats(text);
}

/* Sets max_bytes for what the bdi has dirty now, or the fixed fallback
 * without its statistics. The kernel refuses (EINVAL) a limit above the
 * global dirty threshold: the limit then stays as it was. */
static int ramp_step(qz_throttle_bdi *b) {
        int64_t dirty = bdi_dirty(b);
        char v[32];
        int64_t limit = dirty < 0 ? (int64_t)QZ_THROTTLE_FALLBACK : qz_throttle_limit(dirty);
        snprintf(v, sizeof(v), "%" PRId64, limit);
        int r = write_text(b->dirfd, "max_bytes", v);
        return r == -EINVAL ? 0 : r;
}

/* Without a debugfs mounted (containers; systemd mounts one on most
 * machines), this thread mounts one where only it can see it: a mount
 * namespace of its own (a copy, made private so nothing propagates back),
 * dropped with the thread. The rest of quiesced keeps the host's view. */
static void private_debugfs(qz_throttle_bdi *b) {
        char path[128];
        snprintf(path, sizeof(path), DEBUGFS "/bdi/%s/stats", b->name);
        if (access(path, R_OK) < 0) {
                if (unshare(CLONE_NEWNS | CLONE_FS) < 0 ||
                    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("debugfs", DEBUGFS, "debugfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
                    access(path, R_OK) < 0) {
                        log_debug("bdi %s: no debugfs statistics (%s); a fixed %lld MiB limit for the "
                                  "pre-flush",
                                  b->name, strerror(errno), (long long)(QZ_THROTTLE_FALLBACK >> 20));
                        return;
                }
        }
        pthread_mutex_lock(&b->m);
        snprintf(b->stats_path, sizeof(b->stats_path), "%s", path);
        pthread_mutex_unlock(&b->m);
}

static void *ramp_thread(void *arg) {
        qz_throttle_bdi *b = arg;
        struct timespec ts;
        private_debugfs(b);
        pthread_mutex_lock(&b->m);
        while (!b->stop) {
                pthread_mutex_unlock(&b->m);
                (void)ramp_step(b);
                pthread_mutex_lock(&b->m);
                /* Not qz_now(): a condition variable waits on CLOCK_MONOTONIC at best
                 * (pthread_condattr_setclock refuses CLOCK_BOOTTIME). */
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += RAMP_PERIOD_NS;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (!b->stop && pthread_cond_timedwait(&b->cond, &b->m, &ts) == 0)
                        ;
        }
        pthread_mutex_unlock(&b->m);
        return NULL;
}

/* Writes bdi NAME's settings back from its state file, and removes it. */
static void recover_one(int dirfd, const char *file) {
        const char *name = file + strlen(STATE_PREFIX);
        char text[64], strict[16], fine[32], path[128];
        if (qz_read_text_at(dirfd, file, text, sizeof(text)) < 0 ||
            sscanf(text, "%15s %31s", strict, fine) != 2 || strspn(strict, "0123456789") != strlen(strict) ||
            strspn(fine, "0123456789") != strlen(fine) || strchr(name, '/') || strlen(name) >= BDI_NAME_MAX) {
                log_warning("ignoring the malformed throttle state file %s", file);
                return;
        }
        snprintf(path, sizeof(path), "/sys/class/bdi/%s", name);
        int bdi = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int r = bdi < 0 ? -errno : qz_bdi_put_back(bdi, strict, fine);
        if (bdi >= 0)
                close(bdi);
        if (r < 0 && r != -ENOENT) {
                log_error(
                        "bdi %s is still throttled from a pre-flush quiesced did not finish; cannot put back "
                        "strict_limit %s, max_ratio_fine %s: %s",
                        name, strict, fine, strerror(-r));
                return;
        }
        log_notice(
                "bdi %s: put back strict_limit %s, max_ratio_fine %s (left by a quiesced and guard that died "
                "during a pre-flush)%s",
                name, strict, fine, r == -ENOENT ? "; the device is gone" : "");
        (void)unlinkat(dirfd, file, 0);
}

/* A quiesced killed together with its guard (e.g. SIGKILL to the whole
 * service) leaves its state files behind: the next one puts them back. */
static void recover(int dirfd) {
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = fd < 0 ? NULL : fdopendir(fd);
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        for (struct dirent *de; (de = readdir(dir));)
                if (strncmp(de->d_name, STATE_PREFIX, strlen(STATE_PREFIX)) == 0 &&
                    !strstr(de->d_name, ".tmp"))
                        recover_one(dirfd, de->d_name);
        closedir(dir);
}

/* Records what begin saved, for the next quiesced if both we and the guard die. */
static void state_save(qz_throttle *t, const qz_throttle_bdi *b) {
        char file[96], tmp[104], text[64];
        if (t->state_dirfd < 0)
                return;
        snprintf(file, sizeof(file), STATE_PREFIX "%s", b->name);
        snprintf(tmp, sizeof(tmp), "%s.tmp", file);
        snprintf(text, sizeof(text), "%s %s\n", b->old_strict, b->old_ratio_fine);
        int fd = openat(t->state_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
        if (fd >= 0)
                close(fd);
        if (!ok || renameat(t->state_dirfd, tmp, t->state_dirfd, file) < 0) {
                log_debug("bdi %s: cannot record its settings in the runtime directory: %s", b->name,
                          strerror(errno));
                (void)unlinkat(t->state_dirfd, tmp, 0);
        }
}

static void state_forget(qz_throttle *t, const qz_throttle_bdi *b) {
        char file[96];
        snprintf(file, sizeof(file), STATE_PREFIX "%s", b->name);
        if (t->state_dirfd >= 0)
                (void)unlinkat(t->state_dirfd, file, 0);
}

qz_throttle *qz_throttle_new(int guard_sock, bool enabled, const char *state_dir) {
        qz_throttle *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->guard_sock = guard_sock;
        t->enabled = enabled && guard_sock >= 0;
        t->next_key = 1;
        t->state_dirfd = state_dir ? open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (t->state_dirfd >= 0)
                recover(t->state_dirfd);
        pthread_mutex_init(&t->lock, NULL);
        return t;
}

/* Puts back what begin saved; the guard forgets it after. */
static void restore(qz_throttle *t, qz_throttle_bdi *b) {
        int r = qz_bdi_put_back(b->dirfd, b->old_strict, b->old_ratio_fine);
        if (r < 0)
                log_error("cannot restore bdi %s (strict_limit %s, max_ratio_fine %s): %s", b->name,
                          b->old_strict, b->old_ratio_fine, strerror(-r));
        else
                state_forget(t, b);
        (void)qz_guard_bdi_done(t->guard_sock, b->key);
}

qz_throttle_bdi *qz_throttle_begin(qz_throttle *t, const char *bdi) {
        if (!t || !t->enabled || !bdi || !*bdi || strlen(bdi) >= BDI_NAME_MAX)
                return NULL;
        pthread_mutex_lock(&t->lock);
        for (qz_throttle_bdi *b = t->list; b; b = b->next)
                if (strcmp(b->name, bdi) == 0) {
                        b->refs++;
                        pthread_mutex_unlock(&t->lock);
                        return b;
                }
        qz_throttle_bdi *b = calloc(1, sizeof(*b));
        if (!b)
                goto none;
        snprintf(b->name, sizeof(b->name), "%s", bdi);
        pthread_mutex_init(&b->m, NULL);
        char path[128];
        snprintf(path, sizeof(path), "/sys/class/bdi/%s", bdi);
        b->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        /* Kernels before 6.2 have neither knob: no throttle there. */
        if (b->dirfd < 0 ||
            qz_read_line_at(b->dirfd, "strict_limit", b->old_strict, sizeof(b->old_strict)) < 0 ||
            qz_read_line_at(b->dirfd, "max_ratio_fine", b->old_ratio_fine, sizeof(b->old_ratio_fine)) < 0)
                goto fail;
        char *end;
        unsigned long strict = strtoul(b->old_strict, &end, 10);
        unsigned long fine = strtoul(b->old_ratio_fine, &end, 10);
        b->key = t->next_key++;
        /* The guard learns the old values before anything changes. */
        if (qz_guard_bdi_save(t->guard_sock, b->key, b->dirfd, (uint32_t)strict, (uint32_t)fine) < 0)
                goto fail;
        state_save(t, b);
        snprintf(b->stats_path, sizeof(b->stats_path), DEBUGFS "/bdi/%s/stats", bdi);
        if (access(b->stats_path, R_OK) < 0)
                b->stats_path[0] = '\0'; /* the ramp thread may find them */
        /* The limit first, then make it strict. A read-only /sys (e.g. the
         * unit's ProtectKernelTunables without ReadWritePaths) changes nothing. */
        int r = ramp_step(b);
        if (r < 0) {
                log_debug("bdi %s: cannot set max_bytes (%s); pre-flush unthrottled", bdi, strerror(-r));
                state_forget(t, b);
                (void)qz_guard_bdi_done(t->guard_sock, b->key);
                goto fail;
        }
        r = write_text(b->dirfd, "strict_limit", "1");
        if (r < 0) {
                log_debug("bdi %s: cannot set strict_limit (%s); pre-flush unthrottled", bdi, strerror(-r));
                restore(t, b);
                goto fail;
        }
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&b->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, RAMP_STACK);
        r = pthread_create(&b->ramp, &attr, ramp_thread, b);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                restore(t, b);
                pthread_cond_destroy(&b->cond);
                goto fail;
        }
        b->refs = 1;
        b->next = t->list;
        t->list = b;
        log_debug("bdi %s throttled for the pre-flush (strict_limit was %s, max_ratio_fine %s)", bdi,
                  b->old_strict, b->old_ratio_fine);
        pthread_mutex_unlock(&t->lock);
        return b;
fail:
        if (b->dirfd >= 0)
                close(b->dirfd);
        pthread_mutex_destroy(&b->m);
        free(b);
none:
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

/* Stops the ramp, restores, unlinks and frees b. Under t->lock. */
static void release(qz_throttle *t, qz_throttle_bdi *b) {
        pthread_mutex_lock(&b->m);
        b->stop = true;
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->m);
        pthread_join(b->ramp, NULL); /* it never takes t->lock */
        restore(t, b);
        for (qz_throttle_bdi **p = &t->list; *p; p = &(*p)->next)
                if (*p == b) {
                        *p = b->next;
                        break;
                }
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->m);
        close(b->dirfd);
        free(b);
}

void qz_throttle_end(qz_throttle *t, qz_throttle_bdi *b) {
        if (!t || !b)
                return;
        pthread_mutex_lock(&t->lock);
        if (--b->refs == 0)
                release(t, b);
        pthread_mutex_unlock(&t->lock);
}

void qz_throttle_free(qz_throttle *t) {
        if (!t)
                return;
        pthread_mutex_lock(&t->lock);
        while (t->list)
                release(t, t->list);
        pthread_mutex_unlock(&t->lock);
        pthread_mutex_destroy(&t->lock);
        if (t->state_dirfd >= 0)
                close(t->state_dirfd);
        free(t);
}
