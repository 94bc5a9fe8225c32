/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writers.c - a job's writers (writers = NAME... in [snapshot], docs/jobs.md,
 * "Writers"): whether each is registered with quiesced for one of the job's
 * filesystems (before a run, for --dry-run and `job show`), and after the
 * run whether each acknowledged the freeze of its snapshot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jobrun.h"
#include "target.h"
#include "template.h"
#include "xalloc.h"

void qz_job_writers_free(qz_job_writer *w, size_t n) {
        for (size_t i = 0; w && i < n; i++) {
                free(w[i].where);
                free(w[i].reason);
        }
        free(w);
}

/* The job's filesystems: ids[0..*n) and their names for a person. */
static int resolve(const qz_job *j, char ***ids, char ***names, size_t *n, char **ret_error) {
        *ids = calloc(j->n_paths + 1, sizeof(char *));
        *names = calloc(j->n_paths + 1, sizeof(char *));
        if (!*ids || !*names)
                abort();
        *n = 0;
        for (size_t i = 0; i < j->n_paths; i++) {
                qz_target t;
                int r = qz_target_resolve(j->paths[i], &t, ret_error);
                if (r < 0) {
                        qz_target_done(&t);
                        return r;
                }
                bool dup = false;
                for (size_t k = 0; k < *n; k++)
                        dup |= strcmp((*ids)[k], t.id) == 0;
                if (!dup) {
                        (*ids)[*n] = xstrdup(t.id);
                        (*names)[(*n)++] = xasprintf("%s (%s %s)", t.mountpoint, t.fstype, t.id);
                }
                qz_target_done(&t);
        }
        return 0;
}

int qz_job_writers_lookup(const qz_job *j, const char *socket, qz_job_writer **ret) {
        qz_job_writer *w = calloc(j->n_writers + 1, sizeof(*w));
        if (!w)
                abort();
        *ret = w;
        for (size_t i = 0; i < j->n_writers; i++) {
                w[i].name = j->writers[i];
                w[i].registered = -1;
        }
        _cleanup_(qz_strv_freep) char **ids = NULL, **names = NULL;
        _cleanup_free_ char *why = NULL;
        size_t n = 0;
        qz_client *c = NULL;
        qz_status *s = NULL;
        int r = resolve(j, &ids, &names, &n, &why);
        if (r == 0 && (r = qz_client_open(socket, &c)) < 0)
                why = xstrdup(*qz_client_error(NULL) ? qz_client_error(NULL) : strerror(-r));
        if (r == 0 && (r = qz_client_status(c, &s)) < 0)
                why = xstrdup(*qz_client_error(c) ? qz_client_error(c) : strerror(-r));
        qz_client_close(c);
        for (size_t i = 0; i < j->n_writers; i++) {
                if (r < 0) {
                        w[i].where = xasprintf("not known: %s", why ? why : strerror(-r));
                        continue;
                }
                size_t at = 0;
                const qz_writer_status *ws =
                        qz_snap_writer_registered(s, w[i].name, (const char *const *)ids, n, &at);
                w[i].registered = ws != NULL;
                w[i].where = ws ? xasprintf("pid %ld, uid %ld, for %s%s", (long)ws->pid, (long)ws->uid,
                                            names[at], ws->required ? ", required" : "")
                                : qz_snap_writer_missing(s, w[i].name, (const char *const *)names, n);
        }
        qz_status_free(s);
        return r;
}

size_t qz_job_writers_judge(qz_job_writer *w, size_t n, const qz_manifest *m) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
                free(w[i].reason);
                w[i].reason = NULL;
                w[i].judged = true;
                w[i].acknowledged = qz_snap_writer_acknowledged(m, w[i].name, &w[i].reason);
                bad += !w[i].acknowledged;
        }
        return bad;
}
