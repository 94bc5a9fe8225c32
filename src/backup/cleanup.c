/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cleanup.c - the registry of temporary objects (children, mounts, loop
 * devices, files, directories) a backup makes, undone newest first on every
 * exit path; SIGINT/SIGTERM/SIGHUP only set a flag that the loops check.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "error.h"

struct item {
        enum bk_kind kind;
        char *path;
        pid_t pid;
        bool active;
};

static struct item *items;
static size_t n_items, cap_items;
static volatile sig_atomic_t interrupted;
static bool private_done;

static void on_signal(int sig) {
        interrupted = sig;
}

int bk_cleanup_init(void) {
        struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: blocking calls see EINTR */
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
            sigaction(SIGHUP, &sa, NULL) < 0)
                return -errno;
        signal(SIGPIPE, SIG_IGN); /* a closed pipe is an error to report, not a death */
        signal(SIGCHLD, SIG_DFL);
        return 0;
}

volatile sig_atomic_t *bk_interrupt_flag(void) {
        return &interrupted;
}

int bk_interrupted(void) {
        return interrupted;
}

void bk_cleanup_child_signals(void) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
}

int bk_cleanup_push(enum bk_kind kind, const char *path, pid_t pid) {
        if (n_items == cap_items) {
                size_t cap = cap_items ? cap_items * 2 : 16;
                struct item *n = realloc(items, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                items = n;
                cap_items = cap;
        }
        char *p = NULL;
        if (path && !(p = strdup(path)))
                return -ENOMEM;
        items[n_items] = (struct item){.kind = kind, .path = p, .pid = pid, .active = true};
        return (int)++n_items;
}

static void sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Kill and reap a child: SIGTERM, SIGKILL after 5 s. */
static int undo_child(pid_t pid) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
                return 0;
        kill(pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
                pid_t r = waitpid(pid, &st, WNOHANG);
                if (r == pid || (r < 0 && errno == ECHILD))
                        return 0;
                sleep_ms(50);
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return 0;
}

static int undo_mount(const char *target) {
        /* EBUSY: something (a killed child) may still be letting go; retry for 5 s */
        for (int i = 0; i < 100; i++) {
                if (umount2(target, UMOUNT_NOFOLLOW) == 0)
                        return 0;
                if (errno == EINVAL || errno == ENOENT)
                        return 0; /* not a mount point (any more) */
                if (errno != EBUSY && errno != EINTR)
                        break;
                sleep_ms(50);
        }
        int r = -errno;
        fprintf(stderr, "quiesce: cannot unmount %s: %s; detaching it lazily\n", target, strerror(-r));
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                return 0;
        return r;
}

static bool loop_attached(const char *dev) {
        char p[96];
        snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", strrchr(dev, '/') + 1);
        return access(p, F_OK) == 0;
}

static int undo_loop(const char *dev) {
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO && errno != EBUSY)
                        fprintf(stderr, "quiesce: cannot detach %s: %s\n", dev, strerror(errno));
                close(fd);
        }
        /* the kernel detaches an autoclear device once its last user is gone */
        for (int i = 0; i < 100 && loop_attached(dev); i++)
                sleep_ms(20);
        if (loop_attached(dev)) {
                fprintf(stderr, "quiesce: loop device %s is still attached\n", dev);
                return -EBUSY;
        }
        return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static int undo_tree(const char *dir) {
        /* FTW_MOUNT: never into a mount that is still there */
        nftw(dir, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        if (access(dir, F_OK) == 0) {
                fprintf(stderr, "quiesce: cannot remove %s completely\n", dir);
                return -ENOTEMPTY;
        }
        return 0;
}

static int undo(struct item *it) {
        int r = 0;
        switch (it->kind) {
        case BK_CHILD:
                r = undo_child(it->pid);
                break;
        case BK_MOUNT:
                r = undo_mount(it->path);
                break;
        case BK_LOOP:
                r = undo_loop(it->path);
                break;
        case BK_FILE:
                if (unlink(it->path) < 0 && errno != ENOENT)
                        r = -errno;
                break;
        case BK_DIR:
                if (rmdir(it->path) < 0 && errno != ENOENT)
                        r = -errno;
                break;
        case BK_TREE:
                r = undo_tree(it->path);
                break;
        }
        if (r < 0 && (it->kind == BK_FILE || it->kind == BK_DIR))
                fprintf(stderr, "quiesce: cannot remove %s: %s\n", it->path, strerror(-r));
        return r;
}

int bk_cleanup_pop(int handle, bool undo_it) {
        if (handle <= 0 || (size_t)handle > n_items)
                return -EINVAL;
        struct item *it = &items[handle - 1];
        if (!it->active)
                return 0;
        int r = undo_it ? undo(it) : 0;
        it->active = false;
        free(it->path);
        it->path = NULL;
        return r;
}

int bk_cleanup_run(void) {
        int failed = 0;
        for (size_t i = n_items; i-- > 0;)
                if (items[i].active && bk_cleanup_pop((int)i + 1, true) < 0)
                        failed++;
        free(items);
        items = NULL;
        n_items = cap_items = 0;
        return failed;
}

int bk_private_mounts(char **ret_error) {
        if (private_done)
                return 0;
        if (unshare(CLONE_NEWNS) < 0) {
                int r = -errno;
                qz_set_error(ret_error, "cannot make a private mount namespace: %s%s", strerror(-r),
                             r == -EPERM ? " (run as root)" : "");
                return r;
        }
        /* nothing we mount may propagate back to the system's namespace */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                int r = -errno;
                qz_set_error(ret_error, "cannot make the mount namespace private: %s", strerror(-r));
                return r;
        }
        private_done = true;
        return 0;
}
