/* SPDX-License-Identifier: GPL-2.0-or-later */
/* output.c - how the demo speaks: an act's title (bold on a terminal), an
 * indented line, a command's output, an error on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "demo.h"

void demo_act(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs(D.tty ? "\n\033[1m== " : "\n== ", stdout);
        vprintf(fmt, ap);
        fputs(D.tty ? "\033[0m\n" : "\n", stdout);
        va_end(ap);
        fflush(stdout);
}

void demo_say(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("   ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
        fflush(stdout);
}

void demo_indent(const char *text) {
        const char *p = text;
        while (p && *p) {
                const char *nl = strchr(p, '\n');
                int n = nl ? (int)(nl - p) : (int)strlen(p);
                printf("     %.*s\n", n, p);
                p = nl ? nl + 1 : NULL;
        }
        fflush(stdout);
}

int demo_fail(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("quiesce-demo: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return -1;
}

void demo_sleep_ms(long ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bk_interrupted())
                ;
}
