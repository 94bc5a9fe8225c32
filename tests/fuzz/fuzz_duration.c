/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_duration.c - qz_parse_duration (command-line and daemon option text)
 * and qz_format_duration on whatever it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quiesce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        int64_t ms = 12345;
        int r = qz_parse_duration(s, &ms);
        if (r == 0) {
                if (ms < 0 && ms != QZ_NO_DEADLINE)
                        abort();
                if (ms > (int64_t)365 * 24 * 3600 * 1000)
                        abort();
                char buf[32], tiny[2];
                qz_format_duration(ms, buf, sizeof(buf));
                qz_format_duration(ms, tiny, sizeof(tiny));
                if (strlen(buf) >= sizeof(buf))
                        abort();
        } else if (ms != 12345) {
                abort(); /* a failure must not write the result */
        }
        free(s);
        return 0;
}
