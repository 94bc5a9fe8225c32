/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wire.h - the protocol's framing: NUL-terminated JSON messages on a Unix
 * stream socket, with SCM_RIGHTS descriptors riding along. Shared by the
 * daemon and the library; owns no policy, only bytes and descriptors.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define QZ_WIRE_MAX_MESSAGE (64 * 1024)      /* a request, as quiesced accepts it */
#define QZ_WIRE_MAX_REPLY (16 * 1024 * 1024) /* a reply, as clients accept it (Status grows with holds) */
#define QZ_WIRE_MAX_FDS 64

typedef struct qz_wire_reader {
        char *buf;
        size_t len, cap;
        size_t max;               /* the largest message accepted: QZ_WIRE_MAX_MESSAGE unless set */
        int fds[QZ_WIRE_MAX_FDS]; /* received, not yet claimed, in arrival order */
        size_t n_fds;
        bool eof;
} qz_wire_reader;

void qz_wire_reader_init(qz_wire_reader *r);
void qz_wire_reader_init_max(qz_wire_reader *r, size_t max);
void qz_wire_reader_done(qz_wire_reader *r); /* frees the buffer, closes unclaimed fds */

/* One recvmsg() into the reader. >0 bytes read, 0 at EOF, -errno (-EAGAIN
 * on a non-blocking socket with nothing to read). */
ssize_t qz_wire_read(qz_wire_reader *r, int sock);

/* Takes the next complete message (NUL excluded) into *ret (malloc'd).
 * 1 a message, 0 none complete yet, -EMSGSIZE when the pending message is
 * already over the reader's maximum. */
int qz_wire_next(qz_wire_reader *r, char **ret);

/* Takes the n oldest received descriptors (ownership passes to the caller).
 * -EBADMSG when fewer than n arrived. */
int qz_wire_take_fds(qz_wire_reader *r, int *ret_fds, size_t n);

/* One sendmsg() (MSG_NOSIGNAL, retried on EINTR) of len bytes with n_fds
 * descriptors as SCM_RIGHTS. Bytes sent (on a stream socket possibly fewer
 * than len), or -errno. */
ssize_t qz_send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds);

/* Blocking send of one message (a NUL is appended) with optional fds, all
 * in one sendmsg() for the first chunk. 0 or -errno. */
int qz_wire_send(int sock, const char *json, const int *fds, size_t n_fds);
