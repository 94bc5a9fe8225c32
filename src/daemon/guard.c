/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guard.c - the guard process (see guard.h). It does nothing but wait on
 * one socket: no allocation after start but its tables, no logging on the
 * path to a thaw, memory locked, and deaf to the signals a terminal sends.
 * Besides the frozen filesystems it keeps the bdi settings the pre-flush
 * throttle changed (throttle.h), and puts them back if the daemon dies.
 */
#include "guard.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include "caps.h"
#include "clock.h"
#include "throttle.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum { GUARD_ARM = 1, GUARD_DISARM = 2, GUARD_THAWED = 3, GUARD_BDI_SAVE = 4, GUARD_BDI_DONE = 5 };

struct guard_msg {
        uint32_t op;
        uint32_t pad;
        uint64_t key;
        uint64_t deadline;
        uint32_t strict, ratio_fine; /* GUARD_BDI_SAVE: the values to put back */
};

struct entry {
        dev_t key;
        int fd;
        uint64_t deadline;
};

/* A bdi the daemon throttles: its sysfs directory and the original settings. */
struct bdi_entry {
        uint64_t key;
        int dirfd;
        uint32_t strict, ratio_fine;
};

static void bdi_put_back(const struct bdi_entry *b) {
        char strict[16], fine[16];
        snprintf(strict, sizeof(strict), "%u", b->strict);
        snprintf(fine, sizeof(fine), "%u", b->ratio_fine);
        bool ok = qz_bdi_put_back(b->dirfd, strict, fine) == 0;
        char line[160];
        int n = snprintf(line, sizeof(line),
                         "quiesced-guard: quiesced died while throttling a bdi; %s (strict_limit %u, "
                         "max_ratio_fine %u)\n",
                         ok ? "restored it" : "could not restore it", b->strict, b->ratio_fine);
        if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
                return;
}

static void say(const char *fmt, dev_t key, int err) {
        char line[256];
        int n = snprintf(line, sizeof(line), fmt, major(key), minor(key), err ? strerror(err) : "");
        if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
                return;
}

/* Makes room for one more element in an array of n with capacity *cap. */
static bool room_for_one(void **arr, size_t *cap, size_t n, size_t size) {
        if (n < *cap)
                return true;
        size_t ncap = *cap ? *cap * 2 : 8;
        void *t = realloc(*arr, ncap * size);
        if (!t)
                return false;
        *arr = t;
        *cap = ncap;
        return true;
}

static void guard_main(int sock) {
        prctl(PR_SET_NAME, "quiesced-guard");
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
                (void)mlockall(MCL_CURRENT | MCL_FUTURE);
        /* FITHAW needs CAP_SYS_ADMIN; the guard opens nothing and uses no other. */
        {
                struct rlimit rl;
                bool unlimited = getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY;
                char why[256];
                if (qz_caps_drop(QZ_CAP(CAP_SYS_ADMIN) | (unlimited ? 0 : QZ_CAP(CAP_IPC_LOCK)), why,
                                 sizeof(why)) < 0) {
                        char line[320];
                        int n = snprintf(line, sizeof(line), "quiesced-guard: cannot drop capabilities: %s\n",
                                         why);
                        if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
                                n = 0; /* nowhere to say it; guard on regardless */
                }
        }

        int unused = 0; /* FITHAW is declared _IOWR(int); the kernel ignores it */
        struct entry *tab = NULL;
        size_t n = 0, cap = 0;
        struct bdi_entry *bdis = NULL;
        size_t n_bdis = 0, cap_bdis = 0;
        for (;;) {
                uint64_t now = qz_now(), next = UINT64_MAX;
                for (size_t i = 0; i < n;) {
                        if (tab[i].deadline > now) {
                                if (tab[i].deadline < next)
                                        next = tab[i].deadline;
                                i++;
                                continue;
                        }
                        /* The daemon kept it frozen past its hard deadline: thaw it. */
                        int r = ioctl(tab[i].fd, FITHAW, &unused);
                        say(r < 0 ? "quiesced-guard: hard deadline passed for %u:%u, thaw failed: %s\n"
                                  : "quiesced-guard: hard deadline passed for %u:%u, thawed it%s\n",
                            tab[i].key, r < 0 ? errno : 0);
                        struct guard_msg rep = {.op = GUARD_THAWED, .key = tab[i].key};
                        (void)send(sock, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
                        close(tab[i].fd);
                        tab[i] = tab[--n];
                }
                int timeout = next == UINT64_MAX ? -1 : (int)((next - now + 999) / 1000);
                struct pollfd p = {.fd = sock, .events = POLLIN};
                int pr = poll(&p, 1, timeout);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr == 0)
                        continue;

                struct guard_msg m;
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int))];
                } control;
                struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
                struct msghdr mh = {.msg_iov = &iov,
                                    .msg_iovlen = 1,
                                    .msg_control = &control,
                                    .msg_controllen = sizeof(control)};
                ssize_t r = pr > 0 ? recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) : -1;
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (r <= 0) {
                        /* The daemon is gone: thaw what it froze, newest first. */
                        for (size_t i = n; i-- > 0;) {
                                int t = ioctl(tab[i].fd, FITHAW, &unused);
                                say(t < 0 ? "quiesced-guard: quiesced died; thawing %u:%u failed: %s\n"
                                          : "quiesced-guard: quiesced died; thawed %u:%u%s\n",
                                    tab[i].key, t < 0 ? errno : 0);
                        }
                        for (size_t i = 0; i < n_bdis; i++)
                                bdi_put_back(&bdis[i]);
                        _exit(0);
                }
                int fd = -1;
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(&fd, CMSG_DATA(c), sizeof(int));
                if (r != sizeof(m)) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                if (m.op == GUARD_ARM && fd >= 0) {
                        if (!room_for_one((void **)&tab, &cap, n, sizeof(*tab))) {
                                close(fd);
                                continue;
                        }
                        tab[n++] = (struct entry){.key = (dev_t)m.key, .fd = fd, .deadline = m.deadline};
                } else if (m.op == GUARD_BDI_SAVE && fd >= 0) {
                        if (!room_for_one((void **)&bdis, &cap_bdis, n_bdis, sizeof(*bdis))) {
                                close(fd);
                                continue;
                        }
                        bdis[n_bdis++] = (struct bdi_entry){
                                .key = m.key, .dirfd = fd, .strict = m.strict, .ratio_fine = m.ratio_fine};
                } else if (m.op == GUARD_BDI_DONE) {
                        if (fd >= 0)
                                close(fd);
                        for (size_t i = 0; i < n_bdis; i++)
                                if (bdis[i].key == m.key) {
                                        close(bdis[i].dirfd);
                                        bdis[i] = bdis[--n_bdis];
                                        break;
                                }
                } else {
                        if (fd >= 0)
                                close(fd);
                        if (m.op == GUARD_DISARM)
                                for (size_t i = 0; i < n; i++)
                                        if (tab[i].key == (dev_t)m.key) {
                                                close(tab[i].fd);
                                                tab[i] = tab[--n];
                                                break;
                                        }
                }
        }
}

int qz_guard_start(void) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(sv[0]);
                close(sv[1]);
                return -e;
        }
        if (pid == 0) {
                close(sv[0]);
                /* Keep nothing of the daemon's but stdio and our socket. */
                for (int fd = 3; fd < 1024; fd++)
                        if (fd != sv[1])
                                close(fd);
                guard_main(sv[1]);
                _exit(0);
        }
        close(sv[1]);
        return sv[0];
}

/* One SOCK_SEQPACKET message: all of it or nothing, never a part. */
static int guard_send(int sock, const struct guard_msg *m, int fd) {
        ssize_t n = qz_send_with_fds(sock, m, sizeof(*m), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
        return n < 0 ? (int)n : 0;
}

int qz_guard_arm(int sock, dev_t key, int fd, uint64_t hard_deadline) {
        struct guard_msg m = {.op = GUARD_ARM, .key = key, .deadline = hard_deadline};
        return guard_send(sock, &m, fd);
}

int qz_guard_disarm(int sock, dev_t key) {
        struct guard_msg m = {.op = GUARD_DISARM, .key = key};
        return guard_send(sock, &m, -1);
}

int qz_guard_bdi_save(int sock, uint64_t key, int dirfd, uint32_t strict, uint32_t ratio_fine) {
        struct guard_msg m = {.op = GUARD_BDI_SAVE, .key = key, .strict = strict, .ratio_fine = ratio_fine};
        return guard_send(sock, &m, dirfd);
}

int qz_guard_bdi_done(int sock, uint64_t key) {
        struct guard_msg m = {.op = GUARD_BDI_DONE, .key = key};
        return guard_send(sock, &m, -1);
}

int qz_guard_read_report(int sock, dev_t *key) {
        struct guard_msg m;
        ssize_t r = recv(sock, &m, sizeof(m), MSG_DONTWAIT);
        if (r < 0)
                return errno == EAGAIN ? 0 : -errno;
        if (r == 0)
                return -EPIPE;
        if (r != sizeof(m) || m.op != GUARD_THAWED)
                return 0;
        *key = (dev_t)m.key;
        return 1;
}
