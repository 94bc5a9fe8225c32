/* SPDX-License-Identifier: GPL-2.0-or-later */
/* server.h - the socket and the connections on it (server.c). A connection
 * is opaque outside server.c: the methods ask it for its peer and the
 * descriptors that came with the request, answer through it, and mark the
 * operation that outlives a dispatch (a probe, a freeze) begun and ended.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "daemon.h"

struct qz_confirm;

int qz_server_listen(qz_daemon *d);
void qz_server_close_all(qz_daemon *d);
/* Connections open now. */
size_t qz_server_n_conns(const qz_daemon *d);
/* Connections of uid with an operation in progress (a group freeze). */
size_t qz_server_busy_of(const qz_daemon *d, uid_t uid);

qz_daemon *qz_conn_daemon(const qz_conn *c);
const struct ucred *qz_conn_cred(const qz_conn *c);

/* The n descriptors that came with the request, taken (the caller closes
 * them). -EBADMSG when fewer arrived; *arrived says how many. */
int qz_conn_take_fds(qz_conn *c, int *fds, size_t n, size_t *arrived);

void qz_conn_reply(qz_conn *c, json_object *reply); /* takes the reference */
/* A reply already serialized (one JSON object, NUL-terminated on the wire). */
void qz_conn_reply_text(qz_conn *c, const char *text);

/* An event the peer did not ask for (a writer's phase; takes the
 * reference). A peer that leaves more than 64 KiB of them unread beyond
 * its socket's buffer is dropped: -ENOBUFS (*ret_unread: the bytes queued),
 * and the connection closes on the loop's next turn (a writer's departure
 * follows then, not inside this call). -ECONNRESET: dropped already. */
int qz_conn_send_event(qz_conn *c, json_object *event, size_t *ret_unread);

/* The request being dispatched goes on after the dispatch returns: no other
 * message of the connection is taken until qz_conn_end. */
void qz_conn_begin(qz_conn *c);
/* ... and waits meanwhile for confirm (confirm.h; NULL: nothing to wait
 * for). If the connection closes first, the wait is cancelled and
 * free_arg(arg) frees what the confirmation would have been given. */
void qz_conn_wait(qz_conn *c, struct qz_confirm *confirm, void (*free_arg)(void *arg));
/* The confirmation it waited for answered (the wait is over). */
void qz_conn_confirmed(qz_conn *c);
/* The operation is answered: the next message is taken (or, inside the
 * dispatch, once it returns). c may be gone after it. */
void qz_conn_end(qz_conn *c);
