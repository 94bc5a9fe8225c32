/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_manifest.c - snapshot manifests (STORE/NAME.json, read back by
 * `quiesce snapshot list/delete` and `quiesce backup`): whatever parses must
 * write back out and parse again to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        qz_manifest *m = NULL;
        if (qz_manifest_from_json(s, &m) == 0) {
                (void)qz_manifest_incomplete(m);
                (void)qz_snapshot_name_valid(m->name);
                char *out = qz_manifest_to_json(m);
                qz_manifest *again = NULL;
                if (!out || qz_manifest_from_json(out, &again) != 0)
                        abort(); /* what we write we must read */
                char *out2 = qz_manifest_to_json(again);
                if (strcmp(out, out2) != 0)
                        abort(); /* and it must read back the same */
                free(out);
                free(out2);
                qz_manifest_free(again);
                qz_manifest_free(m);
        } else if (m) {
                abort();
        }
        free(s);
        return 0;
}
