/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sha256.c - SHA-256 for the demo's proof that every file acknowledged
 * before the freeze is in the archive unchanged: a thin wrapper over nettle.
 */
#include <stdio.h>

#include "backup.h"

void bk_sha256_init(struct bk_sha256 *s) {
        sha256_init(&s->ctx);
}

void bk_sha256_update(struct bk_sha256 *s, const void *data, size_t n) {
        sha256_update(&s->ctx, n, data);
}

void bk_sha256_final(struct bk_sha256 *s, uint8_t out[32]) {
        sha256_digest(&s->ctx, SHA256_DIGEST_SIZE, out);
}

void bk_sha256_hex(const uint8_t d[32], char out[65]) {
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}
