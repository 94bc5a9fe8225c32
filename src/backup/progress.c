/* SPDX-License-Identifier: GPL-2.0-or-later */
/* progress.c - the progress bar of a backup on a terminal (stderr): bytes
 * done of the total, files, rate; measured beforehand with one walk of the
 * tree. Nothing is drawn when stderr is not a terminal.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backup.h"

#define DRAW_INTERVAL_MS 100
#define BAR_WIDTH 24

void bk_progress_init(struct bk_progress *p, bool enabled) {
        *p = (struct bk_progress){.enabled = enabled, .start_ms = qz_now_ms()};
}

static struct bk_progress *measuring;

static int measure_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_F && S_ISREG(st->st_mode)) {
                /* a file with n links is met n times: count 1/n of it each time */
                /* sparse files: only the data is read, so count what is allocated */
                uint64_t size = (uint64_t)st->st_size, alloc = (uint64_t)st->st_blocks * 512;
                measuring->total_bytes += (alloc < size ? alloc : size) / (st->st_nlink ? st->st_nlink : 1);
                measuring->total_files++;
        }
        return 0;
}

void bk_progress_measure(struct bk_progress *p, const char *dir) {
        if (!p->enabled)
                return;
        measuring = p;
        nftw(dir, measure_one, 32, FTW_PHYS | FTW_MOUNT);
        measuring = NULL;
}

static void draw(struct bk_progress *p, int64_t now) {
        char done[32], total[32], rate[32];
        double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes : 0.0;
        if (frac > 1.0)
                frac = 1.0;
        int64_t el = now - p->start_ms;
        uint64_t bps = el > 0 ? p->done_bytes * 1000 / (uint64_t)el : 0;
        char bar[BAR_WIDTH + 1];
        int fill = (int)(frac * BAR_WIDTH);
        for (int i = 0; i < BAR_WIDTH; i++)
                bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r\033[K%3d%% [%s] %s / %s  %s/s  %" PRIu64 "/%" PRIu64 " files", (int)(frac * 100),
                bar, qz_format_bytes(p->done_bytes, done, sizeof(done)),
                qz_format_bytes(p->total_bytes, total, sizeof(total)),
                qz_format_bytes(bps, rate, sizeof(rate)), p->done_files, p->total_files);
        fflush(stderr);
        p->last_draw_ms = now;
}

void bk_progress_update(struct bk_progress *p, uint64_t bytes, uint64_t files) {
        p->done_bytes += bytes;
        p->done_files += files;
        if (!p->enabled)
                return;
        int64_t now = qz_now_ms();
        if (now - p->last_draw_ms >= DRAW_INTERVAL_MS)
                draw(p, now);
}

void bk_progress_done(struct bk_progress *p) {
        if (!p->enabled)
                return;
        fputs("\r\033[K", stderr);
        fflush(stderr);
}
