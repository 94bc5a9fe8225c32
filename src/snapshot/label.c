/* SPDX-License-Identifier: GPL-2.0-or-later */
/* label.c - deciding a snapshot's consistency label: the weakest guarantee
 * that holds for every filesystem, given the freeze and the hooks.
 */
#include "label.h"

#include <string.h>

static const char *const names[] = {
        [QZ_LABEL_APPLICATION] = "application-consistent",
        [QZ_LABEL_FILESYSTEM] = "filesystem-consistent",
        [QZ_LABEL_CRASH] = "crash-consistent",
};

const char *qz_label_name(qz_label l) {
        if ((unsigned)l >= sizeof(names) / sizeof(names[0]))
                return "crash-consistent";
        return names[l];
}

int qz_label_from_name(const char *name, qz_label *ret) {
        for (unsigned i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(name, names[i]) == 0) {
                        *ret = (qz_label)i;
                        return 0;
                }
        return -1;
}

qz_label qz_label_decide(const qz_label_input *in, const char **reason) {
        const char *why;
        qz_label l;

        if (in->no_freeze) {
                l = QZ_LABEL_CRASH;
                why = "taken with --no-freeze: nothing was frozen";
        } else if (in->freeze_failed) {
                l = QZ_LABEL_CRASH;
                why = "the freeze failed; the snapshot was taken without it";
        } else if (in->provider_failed) {
                l = QZ_LABEL_CRASH;
                why = "a provider failed or was killed: the snapshot is incomplete";
        } else if (in->n_fs_broken > 0) {
                l = QZ_LABEL_CRASH;
                why = "a freeze was lifted by another process during the snapshot (the proof found a breach)";
        } else if (in->n_fs == 0 || in->n_fs_consistent < in->n_fs) {
                l = QZ_LABEL_CRASH;
                why = "a filesystem did not stay frozen until its snapshot ended (deadline, ceiling or "
                      "a thaw from elsewhere)";
        } else if (in->n_freeze_hooks == 0 && in->n_writers == 0) {
                l = QZ_LABEL_FILESYSTEM;
                why = "frozen throughout; no hooks ran and no writer is registered, so applications were "
                      "not asked to flush";
        } else if (in->n_freeze_hooks_failed > 0) {
                l = QZ_LABEL_FILESYSTEM;
                why = "frozen throughout, but a freeze hook failed";
        } else if (in->n_writers_unacked > 0) {
                l = QZ_LABEL_FILESYSTEM;
                why = "frozen throughout, but a writer did not acknowledge the freeze or went away before "
                      "its thaw";
        } else if (in->n_writers == 0) {
                l = QZ_LABEL_APPLICATION;
                why = "every freeze hook succeeded and every filesystem stayed frozen throughout";
        } else if (in->n_freeze_hooks == 0) {
                l = QZ_LABEL_APPLICATION;
                why = "no freeze hook was configured; every writer acknowledged the freeze, and every "
                      "filesystem stayed frozen throughout";
        } else {
                l = QZ_LABEL_APPLICATION;
                why = "every freeze hook succeeded, every writer acknowledged the freeze, and every "
                      "filesystem stayed frozen throughout";
        }
        if (reason)
                *reason = why;
        return l;
}
