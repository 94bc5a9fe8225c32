/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_exec_template.c - command templates (src/common/template.c: the exec
 * provider's --exec-cmd/--exec-delete text, also stored in manifests, and
 * backup's --exec arguments): splitting into an argv and substituting
 * {name}, {device}, ... */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        static const qz_placeholder vars[] = {
                {"name", "snap-1"}, {"device", "/dev/loop7"}, {"mountpoint", "/mnt/a b"},
                {"fstype", "ext4"}, {"snapshot", NULL},
        };
        size_t n = 0;
        char **argv = qz_template_split(s, &n);
        if (!argv || argv[n] != NULL)
                abort();
        for (size_t i = 0; i < n; i++) {
                if (!argv[i][0] || strpbrk(argv[i], " \t\n"))
                        abort(); /* words are never empty and never hold a separator */
                char *bad = NULL;
                char *out = qz_template_substitute(argv[i], vars, sizeof(vars) / sizeof(vars[0]), &bad);
                if (!out == !bad)
                        abort(); /* exactly one of a result or the unknown placeholder */
                free(out);
                free(bad);
        }
        qz_strv_free(argv);
        free(s);
        return 0;
}
