/* SPDX-License-Identifier: GPL-2.0-or-later */
/* verify.c - is a snapshot's storage still what its manifest recorded? Each
 * filesystem is checked by its provider's verify() (provider_*.c); here the
 * states, their order, and the lstat helper the providers share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "provider.h"

const char *qz_snap_state_name(qz_snap_state s) {
        switch (s) {
        case QZ_SNAP_INTACT:
                return "intact";
        case QZ_SNAP_UNKNOWN:
                return "unknown";
        case QZ_SNAP_DAMAGED:
                return "damaged";
        case QZ_SNAP_MISSING:
                return "missing";
        }
        return "unknown";
}

bool qz_verify_stat(const char *path, bool follow, struct stat *st, qz_snap_state *state, char **ret_why) {
        if ((follow ? stat(path, st) : lstat(path, st)) == 0)
                return true;
        int e = errno;
        if (e != ENOENT) {
                *state = QZ_SNAP_UNKNOWN;
                qz_set_error(ret_why, "%s: %s", path, strerror(e));
                return false;
        }
        char *dir = strdup(path);
        if (!dir)
                abort();
        char *slash = strrchr(dir, '/');
        if (slash)
                *(slash == dir ? slash + 1 : slash) = '\0';
        struct stat ds;
        bool dir_there = slash && stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode);
        if (dir_there) {
                *state = QZ_SNAP_MISSING;
                qz_set_error(ret_why, "%s does not exist", path);
        } else {
                *state = QZ_SNAP_UNKNOWN;
                qz_set_error(ret_why, "neither %s nor its directory %s exists (is its filesystem mounted?)",
                             path, slash ? dir : ".");
        }
        free(dir);
        return false;
}

void qz_snap_checks_done(qz_snap_check *checks, size_t n) {
        for (size_t i = 0; checks && i < n; i++) {
                free(checks[i].reason);
                checks[i].reason = NULL;
        }
}

qz_snap_state qz_snapshot_verify(const qz_manifest *m, qz_snap_check *checks) {
        qz_snap_state worst = m->n_fs ? QZ_SNAP_INTACT : QZ_SNAP_MISSING;
        for (size_t i = 0; i < m->n_fs; i++) {
                const qz_snap_fs *f = &m->fs[i];
                qz_snap_check c = {.state = QZ_SNAP_UNKNOWN};
                const qz_provider *p = qz_provider_by_name(f->provider);
                if (!f->snapshot) {
                        c.state = QZ_SNAP_MISSING;
                        c.reason =
                                xasprintf("never made%s%s", f->error ? ": " : "", f->error ? f->error : "");
                } else if (!p || !p->verify)
                        c.reason = xasprintf("%s: unknown provider '%s'; not checked", f->snapshot,
                                             f->provider ? f->provider : "?");
                else
                        c.state = p->verify(m, f, &c.reason);
                if (!c.reason)
                        c.reason = xstrdup("");
                if (c.state > worst)
                        worst = c.state;
                if (checks)
                        checks[i] = c;
                else
                        free(c.reason);
        }
        return worst;
}
