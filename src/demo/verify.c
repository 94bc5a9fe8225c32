/* SPDX-License-Identifier: GPL-2.0-or-later */
/* verify.c - the demo's proof: reads the backup archive with libarchive and
 * checks each of the writer's files against the SHA-256 its index implies
 * (nettle), counting the acknowledged files that are there intact.
 */
#include <archive.h>
#include <archive_entry.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

static void hex_of(const uint8_t d[SHA256_DIGEST_SIZE], char hex[65]) {
        static const char digits[] = "0123456789abcdef";
        for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
                hex[2 * i] = digits[d[i] >> 4];
                hex[2 * i + 1] = digits[d[i] & 15];
        }
        hex[64] = '\0';
}

void demo_sha256_hex(const void *data, size_t n, char hex[65]) {
        struct sha256_ctx s;
        uint8_t d[SHA256_DIGEST_SIZE];
        sha256_init(&s);
        sha256_update(&s, n, data);
        sha256_digest(&s, sizeof(d), d);
        hex_of(d, hex);
}

/* The writer's file index of an archive path ".../w/NNNNN.dat", or -1. */
static long writer_index(const char *p) {
        const char *slash = strrchr(p, '/');
        unsigned idx;
        char tail[16];
        if (!slash || slash - p < 2 || strncmp(slash - 2, "/w", 2) != 0 ||
            sscanf(slash + 1, "%u.da%15s", &idx, tail) != 2 || strcmp(tail, "t") != 0)
                return -1;
        return idx;
}

static void entry_sha(struct archive *a, char hex[65]) {
        struct sha256_ctx s;
        uint8_t buf[65536], d[SHA256_DIGEST_SIZE];
        sha256_init(&s);
        la_ssize_t k;
        while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
                sha256_update(&s, (size_t)k, buf);
        sha256_digest(&s, sizeof(d), d);
        hex_of(d, hex);
}

int demo_verify_archive(const char *path, struct demo_verify *v) {
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
                demo_fail("%s: %s", path, archive_error_string(a));
                archive_read_free(a);
                return -1;
        }
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                long idx = writer_index(archive_entry_pathname(e));
                if (idx < 0 || archive_entry_filetype(e) != AE_IFREG)
                        continue;
                char got[65], want[65];
                entry_sha(a, got);
                demo_file_sha((unsigned)idx, want);
                bool ok = strcmp(got, want) == 0;
                v->in_archive++;
                if (idx <= v->acked)
                        ok ? v->acked_ok++ : v->acked_bad++;
                else
                        ok ? v->later_ok++ : v->later_other++;
        }
        if (r != ARCHIVE_EOF)
                demo_fail("%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return r == ARCHIVE_EOF ? 0 : -1;
}
