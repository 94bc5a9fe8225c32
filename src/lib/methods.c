/* SPDX-License-Identifier: GPL-2.0-or-later */
/* methods.c - libquiesce's requests: the targets (paths opened here, or the
 * caller's descriptors, passed as SCM_RIGHTS) and the methods on them and on
 * holds (freeze, thaw, reset-timeout, verify, status), each decoded into the
 * typed results of quiesce.h. The connection and the call are client.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"
#include "jsonutil.h"
#include "protocol.h"

/* ---- Targets: paths opened here, or the caller's descriptors -------------- */

void qz_client_targets_done(qz_targets *t) {
        for (size_t i = 0; i < t->n_owned; i++)
                close(t->fds[i]);
        json_object_put(t->paths);
        memset(t, 0, sizeof(*t));
}

static int check_count(qz_client *c, size_t n) {
        if (n == 0) {
                qz_client_set_error(c, "no path given");
                return -EINVAL;
        }
        if (n > QZ_WIRE_MAX_FDS) {
                qz_client_set_error(c, "too many paths in one request (at most %d)", QZ_WIRE_MAX_FDS);
                return -E2BIG;
        }
        return 0;
}

int qz_client_open_targets(qz_client *c, const char *const *paths, size_t n, qz_targets *t) {
        memset(t, 0, sizeof(*t));
        int r = check_count(c, n);
        if (r < 0)
                return r;
        t->paths = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                const char *p = paths[i];
                if (!p || !*p) {
                        qz_client_set_error(c, "an empty path was given");
                        qz_client_targets_done(t);
                        return -EINVAL;
                }
                int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
                if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG)
                        fd = open(p, O_PATH | O_CLOEXEC); /* not readable (EACCES), a socket ... */
                if (fd < 0) {
                        r = -errno;
                        qz_client_set_error(c, "%s: %s", p, strerror(-r));
                        qz_client_targets_done(t);
                        return r;
                }
                t->fds[t->n_fds++] = fd;
                t->n_owned = t->n_fds;
                char *abs = realpath(p, NULL);
                json_object_array_add(t->paths, json_object_new_string(abs ? abs : p));
                free(abs);
        }
        return 0;
}

/* The caller's fds; paths from /proc/self/fd so the daemon's messages can name them. */
static int fd_targets(qz_client *c, const int *fds, size_t n, qz_targets *t) {
        memset(t, 0, sizeof(*t));
        int r = check_count(c, n);
        if (r < 0)
                return r;
        json_object *paths = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
                if (fds[i] < 0) {
                        qz_client_set_error(c, "invalid file descriptor %d", fds[i]);
                        json_object_put(paths);
                        return -EBADF;
                }
                t->fds[t->n_fds++] = fds[i];
                char link[64], buf[PATH_MAX];
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fds[i]);
                ssize_t l = readlink(link, buf, sizeof(buf) - 1);
                if (paths && l > 0 && buf[0] == '/') {
                        buf[l] = '\0';
                        json_object_array_add(paths, json_object_new_string(buf));
                } else {
                        json_object_put(paths); /* name all or none */
                        paths = NULL;
                }
        }
        t->paths = paths;
        return 0;
}

json_object *qz_client_target_params(qz_targets *t) {
        json_object *p = json_object_new_object();
        if (t->paths)
                json_object_object_add(p, "paths", json_object_get(t->paths));
        json_object_object_add(p, "fds", json_object_new_int((int)t->n_fds));
        return p;
}

static int check_timeout(qz_client *c, int64_t timeout_ms) {
        if (timeout_ms > 0 || timeout_ms == QZ_NO_DEADLINE)
                return 0;
        qz_client_set_error(c, "invalid timeout %" PRId64 " ms: must be positive, or none", timeout_ms);
        return -EINVAL;
}

/* ---- Methods ------------------------------------------------------------- */

typedef enum target_method {
        METHOD_FREEZE,
        METHOD_THAW,
        METHOD_RESET_TIMEOUT,
} target_method;

static const char *const method_name[] = {
        [METHOD_FREEZE] = QZ_PROTO_METHOD_FREEZE,
        [METHOD_THAW] = QZ_PROTO_METHOD_THAW,
        [METHOD_RESET_TIMEOUT] = QZ_PROTO_METHOD_RESET_TIMEOUT,
};

typedef struct target_list {
        const char *const *paths; /* to open here; NULL: the caller's fds */
        const int *fds;
        size_t n;
} target_list;

static int freeze_reply(qz_client *c, json_object *reply, qz_hold **ret) {
        json_object *h = NULL;
        json_object_object_get_ex(reply, "hold", &h);
        int r = qz_decode_hold(h, ret);
        if (r < 0)
                qz_client_set_error(c, "quiesced at %s sent a Freeze reply without a valid hold",
                                    c->socket_path);
        return r;
}

/* The one way Freeze, Thaw and ResetTimeout name filesystems: by the
 * caller's paths (opened here) or by its descriptors. */
static int call_on_targets(qz_client *c, target_method m, target_list l, int64_t timeout_ms, unsigned flags,
                           qz_hold **ret) {
        if (!c || (l.n && !l.paths && !l.fds))
                return -EINVAL;
        if (ret)
                *ret = NULL;
        int r = m == METHOD_THAW ? 0 : check_timeout(c, timeout_ms);
        if (r < 0)
                return r;
        qz_targets t;
        r = l.paths ? qz_client_open_targets(c, l.paths, l.n, &t) : fd_targets(c, l.fds, l.n, &t);
        if (r < 0)
                return r;
        json_object *p = qz_client_target_params(&t);
        if (m != METHOD_THAW)
                json_object_object_add(p, "timeout_ms", json_object_new_int64(timeout_ms));
        if (m == METHOD_FREEZE)
                json_object_object_add(p, "detached",
                                       json_object_new_boolean(!!(flags & QZ_FREEZE_DETACHED)));
        json_object *reply = NULL;
        r = qz_client_call(c, method_name[m], p, t.fds, t.n_fds, m == METHOD_FREEZE && ret ? &reply : NULL);
        if (r >= 0 && m == METHOD_FREEZE && ret)
                r = freeze_reply(c, reply, ret);
        json_object_put(reply);
        qz_client_targets_done(&t);
        return r;
}

static target_list by_paths(const char *const *paths, size_t n) {
        /* A non-NULL list even for n == 0, so the count check names paths. */
        static const char *const none[1];
        return (target_list){.paths = paths ? paths : (n ? NULL : none), .n = n};
}

static target_list by_fds(const int *fds, size_t n) {
        return (target_list){.fds = fds, .n = n};
}

int qz_client_freeze(qz_client *c, const char *const *paths, size_t n_paths, int64_t timeout_ms,
                     unsigned flags, qz_hold **ret) {
        return call_on_targets(c, METHOD_FREEZE, by_paths(paths, n_paths), timeout_ms, flags, ret);
}

int qz_client_freeze_fds(qz_client *c, const int *fds, size_t n_fds, int64_t timeout_ms, unsigned flags,
                         qz_hold **ret) {
        return call_on_targets(c, METHOD_FREEZE, by_fds(fds, n_fds), timeout_ms, flags, ret);
}

int qz_client_thaw_paths(qz_client *c, const char *const *paths, size_t n_paths) {
        return call_on_targets(c, METHOD_THAW, by_paths(paths, n_paths), 0, 0, NULL);
}

int qz_client_thaw_fds(qz_client *c, const int *fds, size_t n_fds) {
        return call_on_targets(c, METHOD_THAW, by_fds(fds, n_fds), 0, 0, NULL);
}

int qz_client_reset_timeout_paths(qz_client *c, const char *const *paths, size_t n_paths,
                                  int64_t timeout_ms) {
        return call_on_targets(c, METHOD_RESET_TIMEOUT, by_paths(paths, n_paths), timeout_ms, 0, NULL);
}

int qz_client_reset_timeout_fds(qz_client *c, const int *fds, size_t n_fds, int64_t timeout_ms) {
        return call_on_targets(c, METHOD_RESET_TIMEOUT, by_fds(fds, n_fds), timeout_ms, 0, NULL);
}

/* By hold id: no descriptors to pass. */
static int call_on_hold(qz_client *c, target_method m, uint64_t hold_id, int64_t timeout_ms) {
        if (!c)
                return -EINVAL;
        if (m == METHOD_RESET_TIMEOUT) {
                int r = check_timeout(c, timeout_ms);
                if (r < 0)
                        return r;
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "hold", json_object_new_int64((int64_t)hold_id));
        if (m == METHOD_RESET_TIMEOUT)
                json_object_object_add(p, "timeout_ms", json_object_new_int64(timeout_ms));
        return qz_client_call(c, method_name[m], p, NULL, 0, NULL);
}

int qz_client_thaw_hold(qz_client *c, uint64_t hold_id) {
        return call_on_hold(c, METHOD_THAW, hold_id, 0);
}

/* A call by hold id whose -QZ_EBROKEN error carries what a success would
 * have ("released", "holds"): *reply is set on 0 and on -QZ_EBROKEN. */
static int call_keeping_broken(qz_client *c, const char *method, json_object *p, json_object **reply) {
        int r = qz_client_call(c, method, p, NULL, 0, reply);
        if (r == -QZ_EBROKEN && c->last_reply)
                *reply = json_tokener_parse(c->last_reply);
        if (r < 0 && r != -QZ_EBROKEN) {
                json_object_put(*reply);
                *reply = NULL;
        }
        return r;
}

int qz_client_thaw_hold_report(qz_client *c, uint64_t hold_id, qz_thaw_report **ret) {
        if (!c || !ret)
                return -EINVAL;
        *ret = NULL;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "hold", json_object_new_int64((int64_t)hold_id));
        json_object *reply;
        int r = call_keeping_broken(c, method_name[METHOD_THAW], p, &reply);
        if (r < 0 && r != -QZ_EBROKEN)
                return r;
        int d = qz_decode_thaw(reply, ret);
        json_object_put(reply);
        if (d < 0) {
                qz_client_set_error(c, "quiesced at %s sent a Thaw reply without a valid \"released\"",
                                    c->socket_path);
                return d;
        }
        return r;
}

int qz_client_reset_timeout_hold(qz_client *c, uint64_t hold_id, int64_t timeout_ms) {
        return call_on_hold(c, METHOD_RESET_TIMEOUT, hold_id, timeout_ms);
}

int qz_client_verify_hold(qz_client *c, uint64_t hold_id, int64_t timeout_ms, qz_hold **ret) {
        if (!c || !ret)
                return -EINVAL;
        *ret = NULL;
        int r = check_timeout(c, timeout_ms);
        if (r < 0)
                return r;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "hold", json_object_new_int64((int64_t)hold_id));
        json_object_object_add(p, "timeout_ms", json_object_new_int64(timeout_ms));
        json_object *reply;
        r = call_keeping_broken(c, method_name[METHOD_RESET_TIMEOUT], p, &reply);
        if (r < 0 && r != -QZ_EBROKEN)
                return r;
        json_object *holds = qz_json_get_array(reply, "holds"), *h = NULL;
        if (holds && json_object_array_length(holds) > 0)
                h = json_object_array_get_idx(holds, 0);
        int d = qz_decode_hold(h, ret);
        json_object_put(reply);
        if (d < 0) {
                qz_client_set_error(c, "quiesced at %s sent a ResetTimeout reply without a valid hold",
                                    c->socket_path);
                return d;
        }
        return r;
}

int qz_client_status(qz_client *c, qz_status **ret) {
        if (!c || !ret)
                return -EINVAL;
        *ret = NULL;
        json_object *reply;
        int r = qz_client_call(c, QZ_PROTO_METHOD_STATUS, NULL, NULL, 0, &reply);
        if (r < 0)
                return r;
        r = qz_decode_status(reply, ret);
        if (r < 0)
                qz_client_set_error(c, "quiesced at %s sent a malformed Status reply", c->socket_path);
        json_object_put(reply);
        return r;
}

int qz_client_status_json(qz_client *c, char **ret) {
        if (!c || !ret)
                return -EINVAL;
        *ret = NULL;
        json_object *reply;
        int r = qz_client_call(c, QZ_PROTO_METHOD_STATUS, NULL, NULL, 0, &reply);
        if (r < 0)
                return r;
        *ret = strdup(qz_json_text(reply));
        json_object_put(reply);
        if (!*ret) {
                qz_client_set_error(c, "out of memory");
                return -ENOMEM;
        }
        return 0;
}
