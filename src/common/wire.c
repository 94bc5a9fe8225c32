/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wire.c - NUL-framed messages and descriptor passing over Unix sockets
 * (see wire.h and docs/protocol.md).
 */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void qz_wire_reader_init_max(qz_wire_reader *r, size_t max) {
        memset(r, 0, sizeof(*r));
        r->max = max;
}

void qz_wire_reader_init(qz_wire_reader *r) {
        qz_wire_reader_init_max(r, QZ_WIRE_MAX_MESSAGE);
}

void qz_wire_reader_done(qz_wire_reader *r) {
        free(r->buf);
        for (size_t i = 0; i < r->n_fds; i++)
                close(r->fds[i]);
        qz_wire_reader_init_max(r, r->max);
}

static void stash_fds(qz_wire_reader *r, struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *fds = (int *)CMSG_DATA(c);
                for (size_t i = 0; i < n; i++) {
                        if (r->n_fds < QZ_WIRE_MAX_FDS)
                                r->fds[r->n_fds++] = fds[i];
                        else
                                close(fds[i]); /* a flood of descriptors: drop them */
                }
        }
}

/* The buffer holds only what is pending: a reader with nothing pending has
 * none (an idle connection costs quiesced no buffer), a read then lands on
 * the stack and only what arrived is kept, and a message that fills the
 * buffer is handed over as it is (see qz_wire_next). */
ssize_t qz_wire_read(qz_wire_reader *r, int sock) {
        char stack_buf[8192];
        bool direct = r->len == 0;
        if (!direct && r->cap - r->len < 4096) {
                size_t cap = r->cap * 2 > r->len + 8192 ? r->cap * 2 : r->len + 8192;
                if (cap > r->max * 2 + 8192)
                        cap = r->max * 2 + 8192;
                if (cap <= r->len)
                        return -EMSGSIZE;
                char *b = realloc(r->buf, cap);
                if (!b)
                        return -ENOMEM;
                r->buf = b;
                r->cap = cap;
        }
        union {
                struct cmsghdr align;
                char space[CMSG_SPACE(sizeof(int) * QZ_WIRE_MAX_FDS)];
        } control;
        struct iovec iov = direct ? (struct iovec){.iov_base = stack_buf, .iov_len = sizeof(stack_buf)}
                                  : (struct iovec){.iov_base = r->buf + r->len, .iov_len = r->cap - r->len};
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        stash_fds(r, &mh);
        if (n == 0)
                r->eof = true;
        if (direct && n > 0) {
                if (r->cap < (size_t)n) {
                        free(r->buf);
                        r->buf = malloc((size_t)n);
                        r->cap = r->buf ? (size_t)n : 0;
                        if (!r->buf)
                                return -ENOMEM;
                }
                memcpy(r->buf, stack_buf, (size_t)n);
        }
        r->len += (size_t)n;
        return n;
}

int qz_wire_next(qz_wire_reader *r, char **ret) {
        char *nul = r->len ? memchr(r->buf, '\0', r->len) : NULL;
        if (!nul)
                return r->len > r->max ? -EMSGSIZE : 0;
        size_t mlen = (size_t)(nul - r->buf);
        if (mlen > r->max)
                return -EMSGSIZE;
        if (mlen + 1 == r->len) {
                /* The buffer is this one message: hand it over. */
                *ret = r->buf;
                r->buf = NULL;
                r->len = r->cap = 0;
                return 1;
        }
        char *m = malloc(mlen + 1);
        if (!m)
                return -ENOMEM;
        memcpy(m, r->buf, mlen + 1);
        memmove(r->buf, nul + 1, r->len - mlen - 1);
        r->len -= mlen + 1;
        *ret = m;
        return 1;
}

int qz_wire_take_fds(qz_wire_reader *r, int *ret_fds, size_t n) {
        if (n > r->n_fds)
                return -EBADMSG;
        memcpy(ret_fds, r->fds, n * sizeof(int));
        memmove(r->fds, r->fds + n, (r->n_fds - n) * sizeof(int));
        r->n_fds -= n;
        return 0;
}

ssize_t qz_send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds) {
        if (n_fds > QZ_WIRE_MAX_FDS)
                return -E2BIG;
        union {
                struct cmsghdr align;
                char space[CMSG_SPACE(sizeof(int) * QZ_WIRE_MAX_FDS)];
        } control;
        struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (n_fds > 0) {
                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        for (;;) {
                ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
                if (n >= 0)
                        return n;
                if (errno != EINTR)
                        return -errno;
        }
}

int qz_wire_send(int sock, const char *json, const int *fds, size_t n_fds) {
        if (n_fds > QZ_WIRE_MAX_FDS)
                return -E2BIG;
        size_t total = strlen(json) + 1; /* with the NUL */
        for (size_t off = 0; off < total;) {
                /* the descriptors ride with the first chunk only */
                ssize_t n = qz_send_with_fds(sock, json + off, total - off, off == 0 ? fds : NULL,
                                             off == 0 ? n_fds : 0);
                if (n < 0)
                        return (int)n;
                off += (size_t)n;
        }
        return 0;
}
