/* SPDX-License-Identifier: GPL-2.0-or-later */
/* watch.c - keeping a connection-bound hold in the foreground (freeze
 * without --detach, run): one poll loop over a signalfd and the connection,
 * timed on CLOCK_BOOTTIME against the hold's deadline and quiesced's ceiling.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define CHECK_INTERVAL_MS 1000 /* how often Status confirms the hold still exists */
#define DEADLINE_SLACK_MS 50   /* let quiesced's own timer fire first */

int watch_signals(struct watch *w) {
        sigset_t mask;
        signal(SIGCHLD, SIG_DFL); /* an inherited SIG_IGN would reap our child behind our back */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, &w->old_mask) < 0)
                return -errno;
        w->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (w->sigfd < 0) {
                int r = -errno;
                sigprocmask(SIG_SETMASK, &w->old_mask, NULL);
                return r;
        }
        return 0;
}

void watch_restore_signals(struct watch *w) {
        if (w->sigfd < 0)
                return; /* never set up */
        close(w->sigfd);
        w->sigfd = -1;
        sigprocmask(SIG_SETMASK, &w->old_mask, NULL);
}

static int64_t min_deadline(int64_t a, int64_t b) {
        if (a < 0)
                return b;
        if (b < 0)
                return a;
        return a < b ? a : b;
}

/* Asks Status about the hold. 1 present (deadline updated), 0 gone, -errno. */
static int watch_refresh(struct watch *w) {
        qz_status *s;
        int64_t now = qz_now_ms();
        int r = qz_client_status(w->c, &s);
        if (r < 0)
                return r;
        bool found = false;
        int64_t own = -1, ceiling = -1;
        for (size_t i = 0; i < s->n_fs; i++)
                for (size_t j = 0; j < s->fs[i].n_holds; j++) {
                        if (s->fs[i].holds[j].id != w->hold_id)
                                continue;
                        found = true;
                        if (s->fs[i].holds[j].remaining_ms >= 0)
                                own = now + s->fs[i].holds[j].remaining_ms;
                        if (s->fs[i].ceiling_ms >= 0)
                                ceiling = min_deadline(ceiling, now + s->fs[i].ceiling_ms);
                }
        if (found) {
                int64_t d = min_deadline(own, ceiling);
                bool by_ceiling = ceiling >= 0 && d == ceiling && (own < 0 || ceiling < own);
                if (by_ceiling && !w->by_ceiling)
                        w->limit_ms = s->max_frozen_ms;
                w->by_ceiling = by_ceiling;
                w->deadline = d;
        }
        qz_status_free(s);
        w->next_check = qz_now_ms() + CHECK_INTERVAL_MS;
        return found;
}

int watch_start(struct watch *w, qz_client *c, const qz_hold *h, int64_t requested_ms) {
        w->c = c;
        w->hold_id = h->id;
        w->deadline = h->remaining_ms >= 0 ? qz_now_ms() + h->remaining_ms : -1;
        w->limit_ms = requested_ms;
        w->by_ceiling = false;
        int r = watch_refresh(w);
        if (r == 0)
                return -EINVAL; /* gone already */
        return r < 0 ? r : 0;
}

/* Reaps the child if it exited. true when it did. */
static bool reap_child(struct watch *w) {
        if (w->child <= 0)
                return false;
        int st;
        pid_t p = waitpid(w->child, &st, WNOHANG);
        if (p != w->child)
                return false;
        w->child_status = st;
        w->child = -w->child; /* reaped: keep it for nobody to signal */
        return true;
}

/* Drains the signalfd. 1 an event for the caller (WATCH_SIGNAL/WATCH_CHILD in *ev), 0 none. */
static int handle_signals(struct watch *w, enum watch_event *ev) {
        struct signalfd_siginfo si;
        int found = 0;
        while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                        if (reap_child(w)) {
                                *ev = WATCH_CHILD;
                                found = 1;
                        }
                        continue;
                }
                if (w->child > 0) {
                        kill(-w->child, (int)si.ssi_signo);
                        continue;
                }
                if (w->child == 0 && !found) {
                        w->signo = (int)si.ssi_signo;
                        *ev = WATCH_SIGNAL;
                        found = 1;
                }
        }
        return found;
}

enum watch_event watch_wait(struct watch *w) {
        for (;;) {
                enum watch_event ev;
                if (reap_child(w))
                        return WATCH_CHILD;
                int64_t now = qz_now_ms();
                int64_t slack = w->child ? 0 : DEADLINE_SLACK_MS;
                int64_t wake = w->next_check;
                if (w->deadline >= 0 && w->deadline + slack < wake)
                        wake = w->deadline + slack;
                int timeout = wake <= now ? 0 : (int)(wake - now > 60000 ? 60000 : wake - now);
                int cfd = qz_client_fd(w->c);
                struct pollfd p[2] = {{.fd = w->sigfd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
                int n = poll(p, cfd >= 0 ? 2 : 1, timeout);
                if (n < 0 && errno != EINTR)
                        return WATCH_LOST;
                if (n > 0 && (p[0].revents & POLLIN) && handle_signals(w, &ev))
                        return ev;
                if (cfd < 0 || (n > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))))
                        return WATCH_LOST; /* quiesced never speaks unasked: it hung up */

                now = qz_now_ms();
                if (w->deadline >= 0 && now >= w->deadline + slack) {
                        if (w->child)
                                return WATCH_DEADLINE; /* run: act at once */
                        int r = watch_refresh(w);
                        if (r < 0)
                                return WATCH_LOST;
                        if (r == 0)
                                return WATCH_DEADLINE;
                        continue;
                }
                if (now >= w->next_check) {
                        int r = watch_refresh(w);
                        if (r < 0)
                                return WATCH_LOST;
                        if (r == 0)
                                return w->deadline >= 0 && now + 200 >= w->deadline ? WATCH_DEADLINE
                                                                                    : WATCH_RELEASED;
                }
        }
}

void watch_kill_child(struct watch *w) {
        if (w->child <= 0)
                return;
        pid_t group = w->child;
        kill(-group, SIGTERM);
        int64_t until = qz_now_ms() + RUN_KILL_GRACE_MS;
        for (;;) {
                if (reap_child(w)) {
                        kill(-group, SIGKILL); /* whatever it left behind in its group */
                        return;
                }
                int64_t now = qz_now_ms();
                if (now >= until)
                        break;
                struct pollfd p = {.fd = w->sigfd, .events = POLLIN};
                if (poll(&p, 1, (int)(until - now)) > 0) {
                        struct signalfd_siginfo si;
                        while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                ; /* SIGCHLD or a signal for us: reap_child decides */
                }
        }
        kill(-w->child, SIGKILL);
        int st;
        while (waitpid(w->child, &st, 0) < 0 && errno == EINTR)
                ;
        w->child_status = st;
        w->child = -w->child;
}
