/* SPDX-License-Identifier: GPL-2.0-or-later */
/* client.c - libquiesce's connection to quiesced: connecting, one request and
 * its reply at a time, error replies mapped to -errno with the daemon's
 * message kept. The methods built on it are methods.c's.
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

static void forget_error_writer(qz_client *c) {
        if (c->error_writer) {
                qz_writer_report_done(c->error_writer);
                free(c->error_writer);
                c->error_writer = NULL;
        }
}

/* A refused Freeze's "writer": kept for qz_client_error_writer (a reply
 * without one, or one that does not decode, leaves none). */
static void keep_error_writer(qz_client *c, json_object *params) {
        json_object *w = NULL;
        if (!params || !json_object_object_get_ex(params, "writer", &w))
                return;
        qz_writer_report *r = calloc(1, sizeof(*r));
        if (!r)
                return;
        if (qz_decode_writer_report(w, r) < 0) {
                qz_writer_report_done(r);
                free(r);
                return;
        }
        c->error_writer = r;
}

const qz_writer_report *qz_client_error_writer(const qz_client *c) {
        return c ? c->error_writer : NULL;
}

void qz_client_close(qz_client *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        qz_wire_reader_done(&c->reader);
        free(c->socket_path);
        free(c->last_reply);
        forget_error_writer(c);
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
        forget_error_writer(c);
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
                keep_error_writer(c, p);
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
