/* SPDX-License-Identifier: GPL-2.0-or-later */
/* client.c - libquiesce's connection to quiesced: connecting, one request and
 * its reply at a time, error replies mapped to -errno with the daemon's
 * message kept, and the targets (paths or fds) passed as SCM_RIGHTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client-internal.h"
#include "jsonutil.h"
#include "protocol.h"

static __thread char open_error[1024];

void qz_client_set_error(qz_client *c, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof(c->error), fmt, ap);
        va_end(ap);
}

static const char *socket_path_default(const char *socket_path) {
        if (socket_path && *socket_path)
                return socket_path;
        const char *e = secure_getenv(QZ_SOCKET_ENV);
        if (e && *e)
                return e;
        return QZ_DEFAULT_SOCKET;
}

int qz_client_open(const char *socket_path, qz_client **ret) {
        if (!ret)
                return -EINVAL;
        *ret = NULL;
        const char *path = socket_path_default(socket_path);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) {
                snprintf(open_error, sizeof(open_error),
                         "cannot connect to quiesced at %s: socket path too long", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                int r = -errno;
                snprintf(open_error, sizeof(open_error), "cannot create a socket for quiesced: %s",
                         strerror(-r));
                return r;
        }
        while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                if (errno == EINTR)
                        continue;
                int r = -errno;
                close(fd);
                snprintf(open_error, sizeof(open_error), "cannot connect to quiesced at %s: %s%s", path,
                         strerror(-r), (r == -ENOENT || r == -ECONNREFUSED) ? " (is quiesced running?)" : "");
                return r;
        }

        qz_client *c = calloc(1, sizeof(*c));
        if (!c || !(c->socket_path = strdup(path))) {
                free(c);
                close(fd);
                snprintf(open_error, sizeof(open_error), "cannot connect to quiesced: %s", strerror(ENOMEM));
                return -ENOMEM;
        }
        c->fd = fd;
        qz_wire_reader_init_max(&c->reader, QZ_WIRE_MAX_REPLY);
        *ret = c;
        return 0;
}

void qz_client_close(qz_client *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        qz_wire_reader_done(&c->reader);
        free(c->socket_path);
        free(c->last_reply);
        free(c);
}

void qz_client_forget_fd(qz_client *c) {
        c->fd = -1;
}

const char *qz_client_error(const qz_client *c) {
        return c ? c->error : open_error;
}

int qz_client_fd(const qz_client *c) {
        return c ? c->fd : -EINVAL;
}

const char *qz_client_last_reply(const qz_client *c) {
        return c ? c->last_reply : NULL;
}

static void drop_connection(qz_client *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        qz_wire_reader_done(&c->reader);
}

static int errno_from_error_name(const char *name) {
        if (!name)
                return EIO;
        if (strcmp(name, QZ_PROTO_ERROR_INVALID_REQUEST) == 0)
                return EINVAL;
        if (strcmp(name, QZ_PROTO_ERROR_MESSAGE_TOO_LARGE) == 0)
                return EMSGSIZE;
        if (strcmp(name, QZ_PROTO_ERROR_PERMISSION_DENIED) == 0)
                return EPERM;
        return EIO;
}

/* Reads until one whole message is buffered. 1 and *ret, or -errno. */
static int read_message(qz_client *c, char **ret) {
        for (;;) {
                int r = qz_wire_next(&c->reader, ret);
                if (r != 0)
                        return r;
                if (c->reader.eof)
                        return -ECONNRESET;
                ssize_t n = qz_wire_read(&c->reader, c->fd);
                if (n == -EINTR || n == -EAGAIN)
                        continue;
                if (n < 0)
                        return (int)n;
        }
}

int qz_client_call(qz_client *c, const char *method, json_object *params, const int *fds, size_t n_fds,
                   json_object **ret_params) {
        if (ret_params)
                *ret_params = NULL;
        if (c->fd < 0) {
                json_object_put(params);
                qz_client_set_error(c, "the connection to quiesced at %s is closed", c->socket_path);
                return -ENOTCONN;
        }
        json_object *req = json_object_new_object();
        json_object_object_add(req, "method", json_object_new_string(method));
        json_object_object_add(req, "parameters", params ? params : json_object_new_object());
        int r = qz_wire_send(c->fd, qz_json_text(req), fds, n_fds);
        json_object_put(req);
        char *text = NULL;
        if (r < 0) {
                /* quiesced may have answered and closed before reading (a uid over
                 * its connection limit): its reason is still there to read. */
                int sent = r;
                if ((r == -EPIPE || r == -ECONNRESET) && read_message(c, &text) > 0) {
                        r = 0;
                } else {
                        qz_client_set_error(c, "lost the connection to quiesced at %s: %s", c->socket_path,
                                            strerror(-sent));
                        if (sent == -EPIPE || sent == -ECONNRESET || sent == -ENOTCONN)
                                drop_connection(c);
                        return sent;
                }
        } else {
                r = read_message(c, &text);
        }
        if (r < 0) {
                if (r == -ECONNRESET)
                        qz_client_set_error(c, "quiesced at %s closed the connection without a reply",
                                            c->socket_path);
                else if (r == -EMSGSIZE)
                        qz_client_set_error(c, "quiesced at %s sent a reply larger than %d bytes",
                                            c->socket_path, QZ_WIRE_MAX_REPLY);
                else
                        qz_client_set_error(c, "cannot read the reply of quiesced at %s: %s", c->socket_path,
                                            strerror(-r));
                drop_connection(c);
                return r == -EMSGSIZE ? -EBADMSG : r;
        }
        /* The protocol passes no descriptors back; close any that came. */
        while (c->reader.n_fds > 0) {
                int stray;
                if (qz_wire_take_fds(&c->reader, &stray, 1) == 0)
                        close(stray);
        }

        json_object *reply = json_tokener_parse(text);
        free(text);
        if (!reply || !json_object_is_type(reply, json_type_object)) {
                json_object_put(reply);
                qz_client_set_error(c, "quiesced at %s sent a malformed reply", c->socket_path);
                drop_connection(c);
                return -EBADMSG;
        }
        json_object *p = NULL;
        json_object_object_get_ex(reply, "parameters", &p);
        free(c->last_reply);
        c->last_reply = strdup(p ? qz_json_text(p) : "{}");

        const char *error = qz_json_get_string(reply, "error");
        if (error) {
                int64_t e = 0;
                if (!qz_json_get_int64(p, "errno", &e) || e <= 0 || e > 4095)
                        e = errno_from_error_name(error);
                const char *msg = qz_json_get_string(p, "message");
                if (msg && *msg)
                        qz_client_set_error(c, "%s", msg);
                else
                        qz_client_set_error(c, "quiesced answered %s: %s", error, strerror((int)e));
                json_object_put(reply);
                return -(int)e;
        }
        if (!p || !json_object_is_type(p, json_type_object)) {
                qz_client_set_error(c, "quiesced at %s sent a reply without parameters", c->socket_path);
                json_object_put(reply);
                return -EBADMSG;
        }
        c->error[0] = '\0';
        if (ret_params)
                *ret_params = json_object_get(p);
        json_object_put(reply);
        return 0;
}

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
