/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log.c - the log queue (see log.h): a ring of formatted lines, one writer
 * thread to stderr. With $JOURNAL_STREAM set the lines carry <N> priority
 * prefixes for journald; otherwise a timestamp. The ring holds records of
 * the lines' own lengths (a few hundred typical lines in 32 KiB: every page
 * of it ends up resident and locked, so it is kept small).
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RING_BYTES 32768 /* a power of two */
#define LINE_MAX_LEN 512
#define REC_HEAD 3 /* a record: length (2 bytes), level (1), then the line without its NUL */

static struct {
        pthread_mutex_t lock;
        pthread_cond_t more, drained;
        unsigned char ring[RING_BYTES];
        unsigned head, tail; /* byte offsets, free-running: head: next to write out; tail: next free */
        unsigned long dropped;
        int max_level;
        bool journal, stop, started, writing;
        pthread_t thread;
} q = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .more = PTHREAD_COND_INITIALIZER,
        .drained = PTHREAD_COND_INITIALIZER,
        .max_level = LOG_INFO,
};

static void write_line(int level, const char *line) {
        char out[LINE_MAX_LEN + 64];
        int n;
        if (q.journal) {
                n = snprintf(out, sizeof(out), "<%d>%s\n", level, line);
        } else {
                struct timespec ts;
                struct tm tm;
                clock_gettime(CLOCK_REALTIME, &ts);
                localtime_r(&ts.tv_sec, &tm);
                n = snprintf(out, sizeof(out), "%02d:%02d:%02d.%03ld quiesced: %s\n", tm.tm_hour, tm.tm_min,
                             tm.tm_sec, ts.tv_nsec / 1000000, line);
        }
        if (n > (int)sizeof(out))
                n = sizeof(out);
        for (int off = 0; off < n;) {
                ssize_t w = write(STDERR_FILENO, out + off, (size_t)(n - off));
                if (w <= 0)
                        return; /* nowhere to log: drop it */
                off += (int)w;
        }
}

static void ring_put(unsigned at, const void *src, size_t n) {
        size_t off = at % RING_BYTES, first = n < RING_BYTES - off ? n : RING_BYTES - off;
        memcpy(q.ring + off, src, first);
        memcpy(q.ring, (const unsigned char *)src + first, n - first);
}

static void ring_get(unsigned at, void *dst, size_t n) {
        size_t off = at % RING_BYTES, first = n < RING_BYTES - off ? n : RING_BYTES - off;
        memcpy(dst, q.ring + off, first);
        memcpy((unsigned char *)dst + first, q.ring, n - first);
}

static void *writer(void *arg) {
        (void)arg;
        pthread_mutex_lock(&q.lock);
        for (;;) {
                while (q.head == q.tail && !q.stop)
                        pthread_cond_wait(&q.more, &q.lock);
                if (q.head == q.tail && q.stop)
                        break;
                char line[LINE_MAX_LEN];
                unsigned char h[REC_HEAD];
                ring_get(q.head, h, REC_HEAD);
                size_t len = (size_t)h[0] | (size_t)h[1] << 8;
                int level = h[2];
                ring_get(q.head + REC_HEAD, line, len);
                line[len] = '\0';
                q.head += REC_HEAD + (unsigned)len;
                unsigned long dropped = q.dropped;
                q.dropped = 0;
                q.writing = true;
                pthread_mutex_unlock(&q.lock);
                if (dropped) {
                        char note[80];
                        snprintf(note, sizeof(note), "(%lu log lines dropped: the log sink was slow)",
                                 dropped);
                        write_line(LOG_WARNING, note);
                }
                write_line(level, line);
                pthread_mutex_lock(&q.lock);
                q.writing = false;
                pthread_cond_broadcast(&q.drained);
        }
        pthread_mutex_unlock(&q.lock);
        return NULL;
}

void qz_log_init(int max_level) {
        q.max_level = max_level;
        q.journal = getenv("JOURNAL_STREAM") != NULL;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        if (pthread_create(&q.thread, &attr, writer, NULL) == 0)
                q.started = true;
        pthread_attr_destroy(&attr);
}

void qz_log_shutdown(void) {
        if (!q.started)
                return;
        pthread_mutex_lock(&q.lock);
        q.stop = true;
        pthread_cond_signal(&q.more);
        pthread_mutex_unlock(&q.lock);
        /* Bounded: if stderr is stuck, leave the thread behind rather than hang. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        if (pthread_timedjoin_np(q.thread, NULL, &until) == 0)
                q.started = false;
}

void qz_log(int level, const char *fmt, ...) {
        if (level > q.max_level)
                return;
        char line[LINE_MAX_LEN];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (!q.started) {
                write_line(level, line);
                return;
        }
        size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        unsigned char h[REC_HEAD] = {(unsigned char)(len & 0xff), (unsigned char)(len >> 8),
                                     (unsigned char)level};
        pthread_mutex_lock(&q.lock);
        if (RING_BYTES - (q.tail - q.head) < REC_HEAD + len) {
                q.dropped++;
        } else {
                ring_put(q.tail, h, REC_HEAD);
                ring_put(q.tail + REC_HEAD, line, len);
                q.tail += REC_HEAD + (unsigned)len;
                pthread_cond_signal(&q.more);
        }
        pthread_mutex_unlock(&q.lock);
}

int qz_log_level_from_string(const char *s) {
        static const char *names[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
        for (int i = 0; i < 8; i++)
                if (strcasecmp(s, names[i]) == 0)
                        return i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        return -1;
}
