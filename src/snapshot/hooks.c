/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks.c - running the hooks directory (see hooks.h): permission checks
 * on an open descriptor, execveat through it, a timeout per hook (SIGTERM,
 * then SIGKILL), output captured in memory and kept in the manifest.
 */
#include "error.h"
#include "hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

#define HOOK_KILL_GRACE_MS 1000
#define HOOK_REAP_WAIT_MS 2000

static void note(qz_manifest *m, const char *fmt, const char *a, const char *b) {
        char *s;
        if (asprintf(&s, fmt, a, b) < 0)
                abort();
        m->notes = realloc(m->notes, (m->n_notes + 1) * sizeof(*m->notes));
        if (!m->notes)
                abort();
        m->notes[m->n_notes++] = s;
}

/* Backup and package-manager leftovers, as qemu's fsfreeze-hook ignores them. */
static bool ignored(const char *n) {
        static const char *const suffixes[] = {"~",         ".dpkg-dist", ".dpkg-old", ".dpkg-new",
                                               ".dpkg-tmp", ".rpmnew",    ".rpmorig",  ".rpmsave",
                                               ".sample",   ".bak",       ".orig",     ".swp"};
        size_t len = strlen(n);
        if (n[0] == '.' || n[0] == '#')
                return true;
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                size_t sl = strlen(suffixes[i]);
                if (len >= sl && strcmp(n + len - sl, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

static char *unsafe(const struct stat *st, const char *what, const char *path) {
        char *s = NULL;
        int r = 0;
        if (st->st_uid != 0)
                r = asprintf(&s, "%s %s is owned by uid %u, not root", what, path, (unsigned)st->st_uid);
        else if (st->st_mode & (S_IWGRP | S_IWOTH))
                r = asprintf(&s, "%s %s is %s-writable (mode %04o)", what, path,
                             (st->st_mode & S_IWOTH) ? "world" : "group", (unsigned)(st->st_mode & 07777));
        if (r < 0)
                abort();
        return s;
}

static int cmp_hook(const void *a, const void *b) {
        return strcmp(((const qz_hook *)a)->name, ((const qz_hook *)b)->name);
}

int qz_hooks_load(qz_hooks *h, const char *dir, const char *name, const char *const *paths, size_t n_paths,
                  int64_t timeout_ms, qz_manifest *m, char **ret_error) {
        memset(h, 0, sizeof(*h));
        h->dir = strdup(dir);
        h->timeout_ms = timeout_ms;
        size_t plen = 1;
        for (size_t i = 0; i < n_paths; i++)
                plen += strlen(paths[i]) + 1;
        char *pv = calloc(1, plen);
        h->env = calloc(3, sizeof(*h->env));
        if (!h->dir || !pv || !h->env)
                abort();
        for (size_t i = 0; i < n_paths; i++) {
                if (i)
                        strcat(pv, "\n");
                strcat(pv, paths[i]);
        }
        if (asprintf(&h->env[0], "QUIESCE_SNAPSHOT_NAME=%s", name) < 0 ||
            asprintf(&h->env[1], "QUIESCE_PATHS=%s", pv) < 0)
                abort();
        free(pv);

        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                if (errno == ENOENT)
                        return 0; /* no hooks directory: no hooks */
                int r = -errno;
                qz_set_error(ret_error, "hooks directory %s: %s", dir, strerror(-r));
                return r;
        }
        struct stat dst;
        fstat(dfd, &dst);
        char *dir_problem = unsafe(&dst, "the hooks directory", dir);
        DIR *d = fdopendir(dup(dfd));
        if (!d) {
                int r = -errno;
                qz_set_error(ret_error, "hooks directory %s: %s", dir, strerror(-r));
                close(dfd);
                free(dir_problem);
                return r;
        }
        size_t cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (ignored(de->d_name))
                        continue;
                int fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0) {
                        note(m, "hook %s/%s skipped: cannot open it", dir, de->d_name);
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
                        if (S_ISREG(st.st_mode))
                                note(m, "hook %s/%s skipped: not executable", dir, de->d_name);
                        close(fd);
                        continue;
                }
                if (h->n == cap) {
                        cap = cap ? cap * 2 : 8;
                        h->v = realloc(h->v, cap * sizeof(*h->v));
                        if (!h->v)
                                abort();
                }
                qz_hook *k = &h->v[h->n++];
                memset(k, 0, sizeof(*k));
                k->name = strdup(de->d_name);
                if (!k->name)
                        abort();
                char *path;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        abort();
                k->refused = dir_problem ? strdup(dir_problem) : unsafe(&st, "the hook", path);
                free(path);
                if (k->refused) {
                        close(fd);
                        k->fd = -1;
                } else
                        k->fd = fd;
        }
        closedir(d);
        close(dfd);
        free(dir_problem);
        if (h->n)
                qsort(h->v, h->n, sizeof(*h->v), cmp_hook);
        return 0;
}

static qz_snap_hook *add_result(qz_manifest *m, const char *name, const char *phase) {
        m->hooks = realloc(m->hooks, (m->n_hooks + 1) * sizeof(*m->hooks));
        if (!m->hooks)
                abort();
        qz_snap_hook *r = &m->hooks[m->n_hooks++];
        memset(r, 0, sizeof(*r));
        r->name = strdup(name);
        r->phase = strdup(phase);
        r->exit_status = -1;
        if (!r->name || !r->phase)
                abort();
        return r;
}

/* Runs one hook; true when it succeeded. */
static bool run_one(qz_hooks *h, qz_hook *k, const char *phase, qz_manifest *m) {
        qz_snap_hook *res = add_result(m, k->name, phase);
        if (k->refused) {
                res->refused = strdup(k->refused);
                return false;
        }
        char *argv[] = {k->name, (char *)phase, NULL};
        qz_child_spec s = {.argv = argv,
                           .exec_fd = k->fd,
                           .env_add = h->env,
                           .merge_stderr = true,
                           .deadline = qz_now() + (usec_t)h->timeout_ms * USEC_PER_MSEC,
                           .kill_grace = HOOK_KILL_GRACE_MS * USEC_PER_MSEC,
                           .reap_wait = HOOK_REAP_WAIT_MS * USEC_PER_MSEC,
                           .interrupted = h->interrupted};
        qz_child_result r;
        int e = qz_child_run(&s, &r);
        if (e < 0) {
                if (asprintf(&res->refused, "cannot start it: %s", strerror(-e)) < 0)
                        abort();
                return false;
        }
        if (strcmp(phase, "freeze") == 0 && r.started)
                k->ran = true;
        res->duration_ms = (int64_t)(r.duration / USEC_PER_MSEC);
        res->timed_out = r.timed_out;
        res->output = r.out.data;
        res->output_truncated = r.out.truncated;
        r.out.data = NULL;
        if (!r.started && asprintf(&res->refused, "cannot execute it: %s", strerror(r.exec_errno)) < 0)
                abort();
        if (r.started && r.reaped) {
                if (WIFEXITED(r.status))
                        res->exit_status = WEXITSTATUS(r.status);
                else if (WIFSIGNALED(r.status))
                        res->signal = WTERMSIG(r.status);
        } else if (!r.reaped && r.pid > 0) {
                /* Blocked in the kernel even after SIGKILL: keep trying briefly, then leave it. */
                int st;
                if (qz_child_reap(r.pid, HOOK_REAP_WAIT_MS * USEC_PER_MSEC, &st) && WIFSIGNALED(st))
                        res->signal = WTERMSIG(st);
        }
        qz_child_result_done(&r);
        return r.started && r.reaped && !r.timed_out && res->exit_status == 0;
}

size_t qz_hooks_freeze(qz_hooks *h, qz_manifest *m) {
        size_t failed = 0;
        for (size_t i = 0; i < h->n; i++) {
                if (h->interrupted && *h->interrupted)
                        break; /* the rest are not run, so they are owed no thaw */
                if (!run_one(h, &h->v[i], "freeze", m))
                        failed++;
        }
        return failed;
}

size_t qz_hooks_thaw(qz_hooks *h, qz_manifest *m) {
        size_t failed = 0;
        volatile sig_atomic_t *saved = h->interrupted;
        h->interrupted = NULL; /* thaw hooks run even after an interruption */
        for (size_t i = h->n; i-- > 0;)
                if (h->v[i].ran && !run_one(h, &h->v[i], "thaw", m))
                        failed++;
        h->interrupted = saved;
        return failed;
}

void qz_hooks_done(qz_hooks *h) {
        for (size_t i = 0; i < h->n; i++) {
                free(h->v[i].name);
                free(h->v[i].refused);
                if (h->v[i].fd >= 0)
                        close(h->v[i].fd);
        }
        free(h->v);
        for (size_t i = 0; h->env && h->env[i]; i++)
                free(h->env[i]);
        free(h->env);
        free(h->dir);
        memset(h, 0, sizeof(*h));
}
