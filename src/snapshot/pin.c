/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pin.c - leases and lasting pins (pin.h). A lease is a small JSON file
 * made under a temporary name, flock'ed, then renamed into
 * STORE/.leases/NAME.PID.N.lease: a visible lease is always locked while
 * its process lives, and one whose lock is free is stale. Taking a lease
 * (or a pin) holds the manifest's shared flock, a delete its exclusive one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "jsonutil.h"
#include "pin.h"
#include "snapshot.h"
#include "xalloc.h"

static void iso_now(char *buf, size_t size) {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool still_linked(int fd, const char *path) {
        struct stat a, b;
        return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int qz_manifest_lock(const char *store, const char *name, bool exclusive) {
        if (!qz_snapshot_name_valid(name))
                return -ENOENT;
        _cleanup_free_ char *path = xasprintf("%s/%s.json", store, name);
        for (int round = 0; round < 100; round++) {
                int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (still_linked(fd, path))
                        return fd;
                close(fd); /* deleted while we waited */
                if (access(path, F_OK) < 0)
                        return -ENOENT;
        }
        return -EAGAIN;
}

static char *pin_to_json(long pid, const char *command, const char *reason) {
        char since[32];
        iso_now(since, sizeof(since));
        json_object *o = json_object_new_object();
        json_object_object_add(o, "pid", json_object_new_int64(pid));
        json_object_object_add(o, "command", command ? json_object_new_string(command) : NULL);
        json_object_object_add(o, "reason", reason ? json_object_new_string(reason) : NULL);
        json_object_object_add(o, "since", json_object_new_string(since));
        char *s = xasprintf("%s\n", json_object_to_json_string_ext(
                                            o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

/* Reads a pin or lease file (open as fd) into p: 0 or -EBADMSG. */
static int pin_read(int fd, qz_pin *p) {
        char buf[4096];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return -EBADMSG;
        buf[n] = '\0';
        json_object *o = json_tokener_parse(buf);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        p->pid = (long)qz_json_int64_or(o, "pid", 0);
        p->command = xstrdup(qz_json_get_string(o, "command"));
        p->reason = xstrdup(qz_json_get_string(o, "reason"));
        p->since = xstrdup(qz_json_get_string(o, "since"));
        json_object_put(o);
        return 0;
}

static void pins_push(qz_pin **v, size_t *n, const qz_pin *p) {
        *v = realloc(*v, (*n + 1) * sizeof(**v));
        if (!*v)
                abort();
        (*v)[(*n)++] = *p;
}

/* Is file (in the leases directory) one of name's leases: NAME.PID.N.lease? */
static bool is_lease_of(const char *file, const char *name) {
        size_t len = strlen(name);
        if (strncmp(file, name, len) != 0 || file[len] != '.')
                return false;
        const char *s = file + len + 1;
        size_t d1 = strspn(s, "0123456789");
        if (!d1 || s[d1] != '.')
                return false;
        s += d1 + 1;
        size_t d2 = strspn(s, "0123456789");
        return d2 && strcmp(s + d2, ".lease") == 0;
}

static void leases_get(const char *store, const char *name, qz_pin **v, size_t *n) {
        _cleanup_free_ char *dir = xasprintf("%s/" QZ_LEASES_DIR, store);
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!is_lease_of(de->d_name, name))
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
                        /* nobody holds it: its process is gone */
                        if (still_linked(fd, path))
                                (void)unlink(path);
                        continue;
                }
                qz_pin p = {.lasting = false};
                if (pin_read(fd, &p) < 0)
                        p.command = xstrdup("unreadable lease"), p.reason = xstrdup(path);
                pins_push(v, n, &p);
        }
        closedir(d);
}

int qz_pins_get(const char *store, const char *name, qz_pin **ret, size_t *n) {
        *ret = NULL;
        *n = 0;
        leases_get(store, name, ret, n);
        _cleanup_free_ char *path = xasprintf("%s/%s" QZ_PIN_SUFFIX, store, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT) {
                int r = -errno;
                qz_pins_free(*ret, *n);
                *ret = NULL;
                *n = 0;
                return r;
        }
        if (fd >= 0) {
                qz_pin p = {.lasting = true};
                if (pin_read(fd, &p) < 0)
                        p.reason = xasprintf("%s is not readable", path);
                pins_push(ret, n, &p);
        }
        return 0;
}

void qz_pins_free(qz_pin *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].command);
                free(v[i].reason);
                free(v[i].since);
        }
        free(v);
}

/* "03:10:02" today, else "2026-12-02 03:10:02" (local time); "?" unknown. */
static void local_since(const char *iso, bool date, char *buf, size_t size) {
        struct tm tm = {0};
        if (!iso || !strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
                snprintf(buf, size, "?");
                return;
        }
        time_t t = timegm(&tm), now = time(NULL);
        struct tm l, ln;
        localtime_r(&t, &l);
        localtime_r(&now, &ln);
        bool today = l.tm_year == ln.tm_year && l.tm_yday == ln.tm_yday;
        strftime(buf, size, date || !today ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &l);
}

char *qz_pin_describe(const qz_pin *p) {
        char since[32];
        local_since(p->since, p->lasting, since, sizeof(since));
        if (p->lasting)
                return xasprintf("a lasting pin (since %s%s%s)", since, p->reason ? ": " : "",
                                 p->reason ? p->reason : "");
        return xasprintf("pid %ld (%s, since %s%s%s)", p->pid, p->command ? p->command : "?", since,
                         p->reason ? ", " : "", p->reason ? p->reason : "");
}

char *qz_pins_describe(const qz_pin *v, size_t n) {
        char *s = NULL;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *d = qz_pin_describe(&v[i]);
                char *t = xasprintf("%s%s%s", s ? s : "", s ? "; " : "", d);
                free(s);
                s = t;
        }
        return s;
}

static int write_locked_file(int fd, const char *text) {
        size_t len = strlen(text);
        ssize_t w = write(fd, text, len);
        if (w < 0)
                return -errno;
        return w == (ssize_t)len ? 0 : -EIO;
}

int qz_lease_take(const char *store, const char *name, const char *command, const char *reason, qz_lease *l,
                  char **ret_error) {
        *l = QZ_LEASE_NULL;
        _cleanup_close_ int mfd = qz_manifest_lock(store, name, false);
        if (mfd < 0)
                return qz_error(ret_error, mfd, "cannot pin the snapshot %s (%s/%s.json): %s", name, store,
                                name, mfd == -ENOENT ? "no such snapshot" : strerror(-mfd));
        _cleanup_free_ char *dir = xasprintf("%s/" QZ_LEASES_DIR, store);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return qz_error(ret_error, -errno, "cannot create %s: %s", dir, strerror(errno));
        _cleanup_free_ char *tmp = xasprintf("%s/.%s.XXXXXX", dir, name);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return qz_error(ret_error, -errno, "cannot create a lease in %s: %s", dir, strerror(errno));
        _cleanup_free_ char *text = pin_to_json((long)getpid(), command, reason);
        int r = 0;
        if (flock(fd, LOCK_EX) < 0 || fchmod(fd, 0644) < 0)
                r = -errno;
        if (r == 0)
                r = write_locked_file(fd, text);
        for (unsigned k = 1; r == 0; k++) {
                char *path = xasprintf("%s/%s.%ld.%u.lease", dir, name, (long)getpid(), k);
                if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
                        l->fd = fd;
                        l->path = path;
                        return 0;
                }
                r = errno == EEXIST && k < 1000 ? 0 : -errno;
                free(path);
        }
        (void)unlink(tmp);
        close(fd);
        return qz_error(ret_error, r, "cannot write a lease in %s: %s", dir, strerror(-r));
}

void qz_lease_release(qz_lease *l) {
        if (l->fd >= 0) {
                if (l->path)
                        (void)unlink(l->path); /* unlinked while still locked */
                close(l->fd);
        }
        free(l->path);
        *l = QZ_LEASE_NULL;
}

int qz_pin_add(const char *store, const char *name, const char *reason, char **ret_error) {
        _cleanup_close_ int mfd = qz_manifest_lock(store, name, false);
        if (mfd < 0)
                return qz_error(ret_error, mfd, "cannot pin the snapshot %s (%s/%s.json): %s", name, store,
                                name, mfd == -ENOENT ? "no such snapshot" : strerror(-mfd));
        _cleanup_free_ char *path = xasprintf("%s/%s" QZ_PIN_SUFFIX, store, name);
        _cleanup_free_ char *tmp = xasprintf("%s/.%s.pin.XXXXXX", store, name);
        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return qz_error(ret_error, -errno, "cannot create %s: %s", tmp, strerror(errno));
        _cleanup_free_ char *text = pin_to_json((long)getpid(), "quiesce snapshot pin", reason);
        int r = write_locked_file(fd, text);
        if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
                r = -errno;
        close(fd);
        if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
                r = -errno;
        if (r == 0) {
                _cleanup_close_ int dfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void)fsync(dfd);
                return 0;
        }
        (void)unlink(tmp);
        if (r == -EEXIST) {
                qz_pin p = {.lasting = true};
                _cleanup_close_ int pfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_free_ char *d = NULL;
                if (pfd >= 0 && pin_read(pfd, &p) == 0)
                        d = qz_pin_describe(&p);
                free(p.command);
                free(p.reason);
                free(p.since);
                return qz_error(ret_error, r, "snapshot \"%s\" is pinned already: %s (%s)", name,
                                d ? d : "a lasting pin", path);
        }
        return qz_error(ret_error, r, "cannot write %s: %s", path, strerror(-r));
}

int qz_pin_remove(const char *store, const char *name, char **ret_error) {
        if (!qz_snapshot_name_valid(name))
                return qz_error(ret_error, -ENOENT, "no snapshot named %s in %s", name, store);
        _cleanup_free_ char *path = xasprintf("%s/%s" QZ_PIN_SUFFIX, store, name);
        if (unlink(path) == 0)
                return 0;
        int r = -errno;
        if (r == -ENOENT)
                return qz_error(ret_error, r, "snapshot \"%s\" has no lasting pin (%s does not exist)", name,
                                path);
        return qz_error(ret_error, r, "cannot remove %s: %s", path, strerror(-r));
}
