/* SPDX-License-Identifier: GPL-2.0-or-later */
/* delete.c - `quiesce snapshot delete`: what a manifest names, removed by
 * its provider (anything that does not look as recorded is left alone and
 * reported), then the manifest itself; never a pinned one (pin.h: the
 * manifest's exclusive flock is held from the check of its pins to the end).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "pin.h"
#include "provider.h"
#include "xalloc.h"

QZ_DEFINE_POINTER_CLEANUP(qz_manifest, qz_manifest_free)

int qz_snapshot_delete(const char *store_opt, const char *name, qz_snapshot_msg_fn msg, void *userdata) {
        _cleanup_free_ char *store = qz_store_dir(store_opt);
        _cleanup_(qz_manifest_freep) qz_manifest *m = NULL;
        int r = qz_manifest_load(store, name, &m);
        if (r == -ENOENT)
                qz_snapshot_tell(msg, userdata, "no snapshot named %s in %s", name, store);
        else if (r < 0)
                qz_snapshot_tell(msg, userdata, "%s/%s.json: %s", store, name,
                                 r == -EBADMSG ? "not a quiesce snapshot manifest" : strerror(-r));
        if (r < 0)
                return r;
        _cleanup_close_ int lock = qz_manifest_lock(store, name, true);
        if (lock < 0) {
                qz_snapshot_tell(msg, userdata, "%s: %s", m->file,
                                 lock == -ENOENT ? "deleted meanwhile" : strerror(-lock));
                return lock;
        }
        qz_pin *pins = NULL;
        size_t n_pins = 0;
        r = qz_pins_get(store, name, &pins, &n_pins);
        if (r < 0) {
                qz_snapshot_tell(msg, userdata,
                                 "cannot read the pins of snapshot \"%s\" in %s: %s; not deleted", name,
                                 store, strerror(-r));
                return r;
        }
        if (n_pins) {
                _cleanup_free_ char *who = qz_pins_describe(pins, n_pins);
                bool lasting = pins[n_pins - 1].lasting;
                qz_pins_free(pins, n_pins);
                qz_snapshot_tell(msg, userdata, "snapshot \"%s\" is pinned by %s; not deleted%s%s%s", name,
                                 who, lasting ? " ('quiesce snapshot unpin " : "", lasting ? name : "",
                                 lasting ? "' first)" : "");
                return -EBUSY;
        }
        int failed = 0;
        for (size_t i = 0; i < m->n_fs; i++) {
                const qz_provider *p = qz_provider_by_name(m->fs[i].provider);
                if (!p || !m->fs[i].snapshot)
                        continue;
                _cleanup_free_ char *error = NULL;
                int e = p->remove(m, &m->fs[i], &error);
                if (e < 0) {
                        failed += e != -ENOTSUP; /* -ENOTSUP: left in place, said why */
                        qz_snapshot_tell(msg, userdata, "%s", error ? error : strerror(-e));
                }
        }
        if (failed) {
                qz_snapshot_tell(msg, userdata, "kept the manifest %s (some snapshots were not removed)",
                                 m->file);
                return -EIO;
        }
        if (unlink(m->file) < 0) {
                r = -errno;
                qz_snapshot_tell(msg, userdata, "cannot remove %s: %s", m->file, strerror(-r));
        }
        return r;
}

void qz_snapshot_tell(qz_snapshot_msg_fn msg, void *userdata, const char *fmt, ...) {
        if (!msg)
                return;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *s = xvasprintf(fmt, ap);
        va_end(ap);
        msg(userdata, s);
}
