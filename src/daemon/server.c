/* SPDX-License-Identifier: GPL-2.0-or-later */
/* server.c - the Unix socket: listening (or socket activation), accepting
 * with peer credentials, reading NUL-framed requests with their descriptors,
 * writing replies without ever blocking, and dropping a dead client's holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "server.h"

#include "confirm.h"
#include "daemon.h"
#include "jsonutil.h"
#include "log.h"
#include "methods.h"
#include "mkdirp.h"
#include "protocol.h"

/* What quiesced keeps queued, beyond the kernel's socket buffer (about 200
 * KiB), of events a peer did not ask for and has not read: past it, the
 * peer is dropped (qz_conn_send_event). A reply is never dropped: a peer
 * that does not read its replies is simply not read from (conn_process). */
#define QZ_CONN_EVENT_BACKLOG_MAX (64 * 1024)

struct qz_conn {
        qz_daemon *d;
        int fd;
        sd_event_source *src;
        struct ucred cred;
        bool allowed;
        qz_wire_reader rd;
        char *out;
        size_t out_len, out_cap;
        bool busy;                       /* an operation (a probe, a group freeze) is in progress for it */
        bool closing;                    /* close once the output is flushed */
        bool abandoned;                  /* ... or at once, with nothing more sent (conn_abandon) */
        bool dispatching;                /* inside qz_request_dispatch: an end must not resume */
        struct qz_confirm *confirm;      /* a request waiting for probes (confirm.h) */
        void (*confirm_free)(void *arg); /* frees its argument if the connection goes first */
        qz_conn *prev, *next;
};

static void conn_free(qz_conn *c) {
        qz_daemon *d = c->d;
        if (c->confirm) {
                qz_confirm_cancel(d, c->confirm, c->confirm_free);
                c->confirm = NULL;
        }
        /* The requester died or hung up: its connection-bound holds go now. */
        qz_holds_drop_owner(d->holds, c, qz_now());
        if (d->writers.n || d->writers.runs) {
                qz_writers_conn_gone(d, c);     /* a writer: out of the registry and its runs */
                qz_phases_requester_gone(d, c); /* a freeze waiting for writers: cancelled */
        }
        if (c->prev)
                c->prev->next = c->next;
        else
                d->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        d->n_conns--;
        sd_event_source_unref(c->src);
        close(c->fd);
        qz_wire_reader_done(&c->rd);
        free(c->out);
        free(c);
}

/* While output is queued the peer's next requests stay in its socket (no
 * EPOLLIN, EPOLLRDHUP still tells of a hang-up): a client that sends
 * requests and never reads the replies costs quiesced one reply, not one
 * per request. */
static void conn_update_events(qz_conn *c) {
        uint32_t ev = c->closing ? 0 : EPOLLRDHUP;
        if (!c->closing && !c->out_len)
                ev |= EPOLLIN;
        if (c->out_len)
                ev |= EPOLLOUT;
        sd_event_source_set_io_events(c->src, ev);
}

/* Sends what is queued; false when the connection broke. The buffer goes
 * once it is empty, so a connection that once got a large Status keeps no
 * locked memory for it. */
static bool conn_flush(qz_conn *c) {
        size_t done = 0;
        while (done < c->out_len) {
                ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return false;
                }
                done += (size_t)n;
        }
        if (done == c->out_len) {
                free(c->out);
                c->out = NULL;
                c->out_len = c->out_cap = 0;
        } else if (done) {
                memmove(c->out, c->out + done, c->out_len - done);
                c->out_len -= done;
        }
        conn_update_events(c);
        return true;
}

void qz_conn_reply_text(qz_conn *c, const char *text) {
        size_t len = strlen(text) + 1, sent = 0;
        if (c->abandoned)
                return;
        if (c->out_len == 0) { /* the usual case: straight from the text, no copy */
                ssize_t n = send(c->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        c->closing = true;
                        return;
                }
                sent = n > 0 ? (size_t)n : 0;
        }
        if (sent < len) { /* the peer is slow: queue the rest, in order */
                if (c->out_len + len - sent > c->out_cap) {
                        size_t cap = (c->out_len + len - sent) * 2;
                        char *b = realloc(c->out, cap);
                        if (!b) {
                                c->closing = true;
                                return;
                        }
                        c->out = b;
                        c->out_cap = cap;
                }
                memcpy(c->out + c->out_len, text + sent, len - sent);
                c->out_len += len - sent;
        }
        if (!conn_flush(c))
                c->closing = true;
}

void qz_conn_reply(qz_conn *c, json_object *reply) {
        qz_conn_reply_text(c, qz_json_text(reply));
        json_object_put(reply);
}

/* The connection goes on the loop's next turn: what is queued is dropped,
 * and the peer reads what the kernel holds, then end-of-file. The shutdown
 * makes the socket report a hang-up, which on_conn takes as the close. */
static void conn_abandon(qz_conn *c) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        c->closing = c->abandoned = true;
        (void)shutdown(c->fd, SHUT_RDWR);
        sd_event_source_set_io_events(c->src, EPOLLIN | EPOLLRDHUP);
}

int qz_conn_send_event(qz_conn *c, json_object *event, size_t *ret_unread) {
        const char *text = qz_json_text(event);
        int r = 0;
        if (c->abandoned) {
                r = -ECONNRESET;
        } else if (c->out_len + strlen(text) + 1 > QZ_CONN_EVENT_BACKLOG_MAX) {
                *ret_unread = c->out_len;
                conn_abandon(c);
                r = -ENOBUFS;
        } else {
                qz_conn_reply_text(c, text);
        }
        json_object_put(event);
        return r;
}

static bool peer_allowed(qz_daemon *d, int fd, const struct ucred *cred) {
        if (cred->uid == 0)
                return true;
        if (!d->have_group)
                return false;
        if (cred->gid == d->group)
                return true;
        gid_t groups[256];
        socklen_t len = sizeof(groups);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
                return false;
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == d->group)
                        return true;
        return false;
}

/* Dispatches complete messages until one leaves the connection busy. */
static void conn_process(qz_conn *c) {
        while (!c->busy && !c->closing && !c->out_len) {
                char *text = NULL;
                int r = qz_wire_next(&c->rd, &text);
                if (r == 0)
                        break;
                if (r < 0) {
                        qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR_MESSAGE_TOO_LARGE, EMSGSIZE, NULL,
                                                       "message larger than %d bytes; closing the connection",
                                                       QZ_WIRE_MAX_MESSAGE));
                        c->closing = true;
                        break;
                }
                if (!c->allowed) {
                        free(text);
                        qz_conn_reply(
                                c,
                                qz_json_error(QZ_PROTO_ERROR_PERMISSION_DENIED, EPERM, NULL,
                                              "uid %u (pid %d) may not use quiesced: only root%s%s",
                                              (unsigned)c->cred.uid, (int)c->cred.pid,
                                              c->d->have_group ? " and members of the configured group" : "",
                                              c->d->have_group ? "" : " (no --group is configured)"));
                        c->closing = true;
                        break;
                }
                c->dispatching = true;
                qz_request_dispatch(c, text);
                c->dispatching = false;
                free(text);
                /* Descriptors no message claimed must not wait for the next one. */
                if (!c->busy && c->rd.len == 0)
                        while (c->rd.n_fds)
                                close(c->rd.fds[--c->rd.n_fds]);
        }
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_conn *c = userdata;
        (void)s;
        if (revents & EPOLLOUT) {
                if (!conn_flush(c)) {
                        conn_free(c);
                        return 0;
                }
                if (!c->out_len)
                        conn_process(c); /* requests read while the output waited */
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
                ssize_t n = c->closing ? 0 : qz_wire_read(&c->rd, fd);
                if (n == -EAGAIN || n == -EINTR)
                        return 0;
                if (n <= 0 && !c->closing) {
                        /* EOF (maybe mid-message: a truncated request is dropped) or error. */
                        conn_free(c);
                        return 0;
                }
                conn_process(c);
        }
        if (c->closing && c->out_len == 0)
                conn_free(c);
        else if (c->closing && (revents & (EPOLLHUP | EPOLLERR)))
                conn_free(c);
        return 0;
}

qz_daemon *qz_conn_daemon(const qz_conn *c) {
        return c->d;
}

const struct ucred *qz_conn_cred(const qz_conn *c) {
        return &c->cred;
}

int qz_conn_take_fds(qz_conn *c, int *fds, size_t n, size_t *arrived) {
        *arrived = c->rd.n_fds;
        return qz_wire_take_fds(&c->rd, fds, n) < 0 ? -EBADMSG : 0;
}

void qz_conn_begin(qz_conn *c) {
        c->busy = true;
}

void qz_conn_wait(qz_conn *c, struct qz_confirm *confirm, void (*free_arg)(void *arg)) {
        c->confirm_free = free_arg;
        c->confirm = confirm;
}

void qz_conn_confirmed(qz_conn *c) {
        c->confirm = NULL;
}

void qz_conn_end(qz_conn *c) {
        c->busy = false;
        if (c->dispatching)
                return; /* conn_process goes on once the dispatch returns */
        conn_process(c);
        if (c->closing && c->out_len == 0)
                conn_free(c);
}

/* Connections of uid now open. */
static size_t conns_of(const qz_daemon *d, uid_t uid) {
        size_t n = 0;
        for (qz_conn *c = d->conns; c; c = c->next)
                n += c->cred.uid == uid;
        return n;
}

size_t qz_server_busy_of(const qz_daemon *d, uid_t uid) {
        size_t n = 0;
        for (qz_conn *c = d->conns; c; c = c->next)
                n += c->busy && c->cred.uid == uid;
        return n;
}

size_t qz_server_n_conns(const qz_daemon *d) {
        return d->n_conns;
}

/* A uid over its connection limit: the reason goes out at once (the client
 * reads it as the answer to its first request) and the connection closes,
 * so a hostile local user cannot pile up descriptors in quiesced. */
static void refuse_over_limit(qz_daemon *d, qz_conn *c) {
        static usec_t last_log;
        json_object *e = qz_json_error(QZ_PROTO_ERROR, EDQUOT, NULL,
                                       "uid %u (pid %d) already has %u connections to quiesced, its limit "
                                       "(--max-connections-per-uid); close some first",
                                       (unsigned)c->cred.uid, (int)c->cred.pid, d->max_conns_per_uid);
        const char *text = qz_json_text(e);
        (void)send(c->fd, text, strlen(text) + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        json_object_put(e);
        /* What the client already sent would turn our close into a reset
         * before it reads the reason: discard it first. */
        char sink[4096];
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
                ;
        usec_t now = qz_now();
        if (now - last_log > 1000000) {
                last_log = now;
                log_notice("connection from uid %u pid %d refused: over its limit of %u connections",
                           (unsigned)c->cred.uid, (int)c->cred.pid, d->max_conns_per_uid);
        }
        close(c->fd);
        free(c);
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        (void)revents;
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning("accept: %s", strerror(errno));
                return 0;
        }
        qz_conn *c = calloc(1, sizeof(*c));
        if (!c) {
                close(cfd);
                return 0;
        }
        c->d = d;
        c->fd = cfd;
        qz_wire_reader_init(&c->rd);
        socklen_t len = sizeof(c->cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
                c->cred.uid = (uid_t)-1;
                c->cred.gid = (gid_t)-1;
        }
        c->allowed = peer_allowed(d, cfd, &c->cred);
        if (c->cred.uid != 0 && d->max_conns_per_uid && conns_of(d, c->cred.uid) >= d->max_conns_per_uid) {
                refuse_over_limit(d, c);
                return 0;
        }
        if (sd_event_add_io(d->event, &c->src, cfd, EPOLLIN | EPOLLRDHUP, on_conn, c) < 0) {
                close(cfd);
                free(c);
                return 0;
        }
        c->next = d->conns;
        if (d->conns)
                d->conns->prev = c;
        d->conns = c;
        d->n_conns++;
        if (!c->allowed)
                log_notice("connection from uid %u pid %d refused: not root nor in the allowed group",
                           (unsigned)c->cred.uid, (int)c->cred.pid);
        return 0;
}

int qz_server_listen(qz_daemon *d) {
        int n = sd_listen_fds(1);
        if (n > 1) {
                log_error("socket activation passed %d sockets; expected one", n);
                return -EINVAL;
        }
        if (n == 1) {
                d->listen_fd = SD_LISTEN_FDS_START;
                if (sd_is_socket_unix(d->listen_fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
                        log_error("the socket passed by systemd is not a listening Unix stream socket");
                        return -EINVAL;
                }
                fcntl(d->listen_fd, F_SETFL, fcntl(d->listen_fd, F_GETFL) | O_NONBLOCK);
                /* The runtime directory to protect is where that socket lives. */
                struct sockaddr_un sa;
                socklen_t len = sizeof(sa);
                if (getsockname(d->listen_fd, (struct sockaddr *)&sa, &len) == 0 && sa.sun_path[0] == '/') {
                        char *path = strndup(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path));
                        char *slash = path ? strrchr(path, '/') : NULL;
                        if (slash) {
                                free(d->socket_path);
                                free(d->runtime_dir);
                                d->socket_path = path;
                                d->runtime_dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
                        } else {
                                free(path);
                        }
                }
                log_info("listening on %s, passed by systemd", d->socket_path);
        } else {
                struct sockaddr_un sa = {.sun_family = AF_UNIX};
                if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
                        log_error("%s: socket path too long (at most %zu bytes)", d->socket_path,
                                  sizeof(sa.sun_path) - 1);
                        return -ENAMETOOLONG;
                }
                strcpy(sa.sun_path, d->socket_path);
                int r = qz_mkdir_p(d->runtime_dir, 0755, NULL);
                if (r < 0) {
                        log_error("%s: cannot create the runtime directory: %s", d->runtime_dir,
                                  strerror(-r));
                        return r;
                }
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                /* A live daemon answers on the path: never steal its socket. */
                int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        close(probe);
                        close(fd);
                        log_error("%s: another quiesced is already listening there", d->socket_path);
                        return -EADDRINUSE;
                }
                if (probe >= 0)
                        close(probe);
                struct stat st;
                if (lstat(d->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
                        unlink(d->socket_path);
                if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(d->socket_path, 0666) < 0 ||
                    listen(fd, SOMAXCONN) < 0) {
                        int e = errno;
                        log_error("%s: cannot listen: %s", d->socket_path, strerror(e));
                        close(fd);
                        return -e;
                }
                d->listen_fd = fd;
                log_info("listening on %s", d->socket_path);
        }
        return sd_event_add_io(d->event, &d->listen_src, d->listen_fd, EPOLLIN, on_accept, d);
}

void qz_server_close_all(qz_daemon *d) {
        while (d->conns)
                conn_free(d->conns);
}
