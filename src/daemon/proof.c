/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proof.c - the judgement of a probe and the breach sentence (proof.h).
 * The decision, where the two signals disagree:
 *   FIFREEZE froze it            lifted, whatever the counter says: quiesced holds it now
 *   EBUSY, counter moved         lifted and frozen again by someone else: theirs now
 *   EBUSY, counter still         held (whoever's it was stays so)
 *   no FIFREEZE, counter moved   written under the freeze: broken, owner unknown
 *   other errno, counter moved   written: broken, owner unknown
 *   other errno, counter still   unknown: not a breach, logged
 */
#include "proof.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

qz_verdict qz_proof_judge(bool ours, uint64_t base, const qz_probe *p) {
        (void)ours;
        bool moved = p->have_sectors && p->sectors != base;
        if (p->ioctl && p->err == 0)
                return QZ_VERDICT_LIFTED;
        if (p->ioctl && p->err == -EBUSY)
                return moved ? QZ_VERDICT_REPLACED : QZ_VERDICT_HELD;
        if (moved)
                return QZ_VERDICT_WRITTEN;
        return p->ioctl ? QZ_VERDICT_UNKNOWN : QZ_VERDICT_HELD;
}

bool qz_proof_ours_after(bool ours, qz_verdict v) {
        if (v == QZ_VERDICT_LIFTED)
                return true;
        if (v == QZ_VERDICT_REPLACED)
                return false;
        return ours;
}

bool qz_verdict_is_breach(qz_verdict v) {
        return v == QZ_VERDICT_LIFTED || v == QZ_VERDICT_REPLACED || v == QZ_VERDICT_WRITTEN;
}

const char *qz_verdict_name(qz_verdict v) {
        switch (v) {
        case QZ_VERDICT_HELD:
                return "held";
        case QZ_VERDICT_LIFTED:
                return "lifted";
        case QZ_VERDICT_REPLACED:
                return "replaced";
        case QZ_VERDICT_WRITTEN:
                return "written";
        case QZ_VERDICT_UNKNOWN:
                return "unknown";
        }
        return "?";
}

const char *qz_probe_answer(const qz_probe *p, char *buf, size_t size) {
        if (!p->ioctl)
                snprintf(buf, size, "not probed");
        else if (p->err == 0)
                snprintf(buf, size, "froze it");
        else {
                const char *n = strerrorname_np(-p->err);
                snprintf(buf, size, "%s", n ? n : "error");
        }
        return buf;
}

char *qz_proof_describe(const char *fs_name, qz_verdict v, int64_t after_ms, const char *device,
                        bool have_sectors, uint64_t written) {
        char when[48], counter[160];
        snprintf(when, sizeof(when), "%lld.%lld s", (long long)(after_ms / 1000),
                 (long long)(after_ms % 1000 / 100));
        if (have_sectors && device)
                snprintf(counter, sizeof(counter), "%llu sector%s written on %s since the freeze",
                         (unsigned long long)written, written == 1 ? "" : "s", device);
        else
                snprintf(counter, sizeof(counter), "no write counter for this filesystem");
        switch (v) {
        case QZ_VERDICT_LIFTED:
                return xasprintf(
                        "the freeze of %s was lifted by another process %s after it began (the probe's "
                        "FIFREEZE succeeded: nothing held it; %s); quiesced froze it again",
                        fs_name, when, counter);
        case QZ_VERDICT_REPLACED:
                return xasprintf(
                        "the freeze of %s was lifted by another process %s after it began, and the "
                        "filesystem was frozen again by someone else (the probe's FIFREEZE answered EBUSY, "
                        "but %s); that freeze is not quiesce's and is left alone",
                        fs_name, when, counter);
        case QZ_VERDICT_WRITTEN:
                return xasprintf(
                        "the freeze of %s did not hold: %s, found %s after it began; who holds it now is "
                        "unknown",
                        fs_name, counter, when);
        default:
                return xasprintf("the freeze of %s held (%s)", fs_name, counter);
        }
}
