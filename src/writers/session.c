/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session.c - the helper's side of the --session line protocol (session.h):
 * the phase and answer lines, and the loop that reads phases from stdin and
 * writes answers to stdout until stdin ends or a signal asks it to stop,
 * releasing what the session holds on every way out.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "session.h"
#include "xalloc.h"

static const char *const phase_names[] = {
        [QZ_PHASE_PREPARE] = "prepare",
        [QZ_PHASE_FREEZE] = "freeze",
        [QZ_PHASE_THAW] = "thaw",
        [QZ_PHASE_ABORT] = "abort",
};

qz_phase qz_phase_parse(const char *line) {
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\r' && line[n + 1] != '\n' && line[n + 1] != '\0')
                return QZ_PHASE_INVALID;
        for (size_t i = 0; i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
                if (strlen(phase_names[i]) == n && strncmp(line, phase_names[i], n) == 0)
                        return (qz_phase)i;
        return QZ_PHASE_INVALID;
}

const char *qz_phase_name(qz_phase p) {
        return p >= QZ_PHASE_PREPARE && p <= QZ_PHASE_ABORT ? phase_names[p] : "invalid";
}

char *qz_answer_line(qz_answer a, const char *text) {
        const char *word = a == QZ_ANSWER_OK ? "ok" : a == QZ_ANSWER_VETO ? "veto" : "fail";
        if (!text || !*text)
                text = a == QZ_ANSWER_OK ? NULL : "no reason given";
        char *s = text ? xasprintf("%s %s\n", word, text) : xasprintf("%s\n", word);
        size_t n = strlen(s);
        for (size_t i = 0; i + 1 < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        s[i] = ' ';
        return s;
}

/* One line from fd into buf (up to size - 1 bytes; a longer line is cut).
 * 1 a line, 0 end of input, -errno. Reads a byte at a time: the phases are
 * rare and short, and nothing past the newline may be swallowed. */
static int read_line(int fd, char *buf, size_t size) {
        size_t n = 0;
        bool any = false;
        for (;;) {
                char ch;
                ssize_t k = read(fd, &ch, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                any = true;
                if (ch == '\n')
                        break;
                if (n + 1 < size)
                        buf[n++] = ch;
        }
        buf[n] = '\0';
        return any ? 1 : 0;
}

static int say(const char *line) {
        size_t n = strlen(line);
        while (n > 0) {
                ssize_t k = write(STDOUT_FILENO, line, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                line += k;
                n -= (size_t)k;
        }
        return 0;
}

int qz_session_serve(const char *name, const qz_session_ops *ops, void *ctx) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN); /* the writer went away: write fails, we release */
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "%s: signalfd: %s\n", name, strerror(errno));
                return 1;
        }

        _cleanup_free_ char *error = NULL;
        int r = ops->connect(ctx, &error);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", name, error ? error : strerror(-r));
                return 1;
        }
        if (say("ready\n") < 0) {
                ops->release(ctx);
                return 0;
        }

        for (;;) {
                struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "%s: poll: %s\n", name, strerror(errno));
                        break;
                }
                if (p[1].revents & POLLIN)
                        break; /* asked to stop: release below */
                if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                char line[256];
                int k = read_line(STDIN_FILENO, line, sizeof(line));
                if (k <= 0)
                        break; /* the writer closed our stdin (or it failed): release */
                qz_phase ph = qz_phase_parse(line);
                _cleanup_free_ char *text = NULL, *answer = NULL;
                if (ph == QZ_PHASE_INVALID) {
                        text = xasprintf("unknown phase \"%.64s\" (prepare, freeze, thaw or abort)", line);
                        answer = qz_answer_line(QZ_ANSWER_FAIL, text);
                } else {
                        qz_answer a = ops->phase(ctx, ph, &text);
                        if (a == QZ_ANSWER_VETO && ph != QZ_PHASE_PREPARE)
                                a = QZ_ANSWER_FAIL; /* only prepare may veto */
                        answer = qz_answer_line(a, text);
                }
                if (say(answer) < 0)
                        break;
        }
        ops->release(ctx);
        return 0;
}
