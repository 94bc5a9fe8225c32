/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_request.c - quiesced's untrusted input path without a kernel: bytes
 * from a client go through a real socketpair into the daemon's framing
 * (qz_wire_read/qz_wire_next, with SCM_RIGHTS descriptors riding along),
 * each complete message through qz_request_parse, the error envelope it
 * would answer with, and the descriptor claim targets.c makes. Nothing here
 * opens a request's path or can reach FIFREEZE: the method handlers, holds.c and
 * freezer.c are not linked in.
 *
 * Input: byte 0 picks the chunk sizes and which sends carry descriptors;
 * the rest is the stream a client would write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jsonutil.h"
#include "parse.h"
#include "wire.h"

static int devnull = -1;

/* sock is non-blocking: a chunk that does not fit is dropped (EAGAIN). */
static void send_chunk(int sock, const uint8_t *p, size_t n, size_t n_fds) {
        int fds[4] = {devnull, devnull, devnull, devnull};
        (void)qz_send_with_fds(sock, p, n, fds, n_fds < 4 ? n_fds : 4);
}

/* What conn_process and resolve_targets do with a message, minus the files. */
static void handle(qz_wire_reader *rd, const char *text) {
        qz_request req;
        qz_request_error e;
        if (qz_request_parse(text, &req, &e) < 0) {
                if (!e.kind || e.err <= 0 || !e.message[0])
                        abort(); /* every refusal must say what and why */
                json_object *rep = qz_json_error(e.kind, e.err, e.has_path ? e.path : NULL, "%s", e.message);
                if (!qz_json_text(rep))
                        abort();
                json_object_put(rep);
                return;
        }
        if (req.method == QZ_METHOD_UNKNOWN)
                abort();
        if (!req.has_hold && (req.method == QZ_METHOD_FREEZE || req.method == QZ_METHOD_THAW ||
                              req.method == QZ_METHOD_RESET_TIMEOUT)) {
                if (req.n_targets < 1 || req.n_targets > QZ_MAX_TARGETS || req.n_fds > QZ_MAX_TARGETS)
                        abort();
                for (size_t i = 0; i < req.n_targets; i++) {
                        if (req.n_fds == 0 && (!req.paths[i] || req.paths[i][0] != '/'))
                                abort(); /* quiesced would open a relative path */
                        if (req.paths[i])
                                (void)strlen(req.paths[i]);
                }
                if (req.n_fds) {
                        int fds[QZ_MAX_TARGETS];
                        if (qz_wire_take_fds(rd, fds, req.n_fds) == 0)
                                for (size_t i = 0; i < req.n_fds; i++)
                                        close(fds[i]);
                }
        }
        if ((req.method == QZ_METHOD_FREEZE || req.method == QZ_METHOD_RESET_TIMEOUT) && !(req.timeout > 0))
                abort();
        if (req.has_hold && req.hold == 0)
                abort();
        qz_request_done(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        if (devnull < 0)
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        uint8_t mode = data[0];
        data++, size--;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        int bufsize = 1 << 20;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        qz_wire_reader rd;
        qz_wire_reader_init(&rd);
        size_t chunk = (mode & 0x0f) ? (size_t)(mode & 0x0f) * 37 : size + 1;
        size_t off = 0, sends = 0;
        bool closed = false;
        while (!closed) {
                if (off < size) {
                        size_t n = size - off < chunk ? size - off : chunk;
                        size_t n_fds =
                                (mode & 0x30) && (sends++ % ((mode >> 6) + 1)) == 0 ? (mode >> 4 & 3) : 0;
                        send_chunk(sv[0], data + off, n, n_fds);
                        off += n;
                        if (off == size)
                                shutdown(sv[0], SHUT_WR);
                } else if (size == 0) {
                        shutdown(sv[0], SHUT_WR);
                }
                ssize_t r = qz_wire_read(&rd, sv[1]);
                if (r == 0 || (r < 0 && r != -EAGAIN && r != -EINTR))
                        closed = true;
                for (;;) {
                        char *text = NULL;
                        int m = qz_wire_next(&rd, &text);
                        if (m < 0) {
                                closed = true; /* MessageTooLarge: the daemon closes */
                                break;
                        }
                        if (m == 0)
                                break;
                        handle(&rd, text);
                        free(text);
                        /* descriptors no message claimed are closed, as conn_process does */
                        if (rd.len == 0)
                                while (rd.n_fds)
                                        close(rd.fds[--rd.n_fds]);
                }
                if (r == -EAGAIN && off >= size)
                        closed = true;
        }
        qz_wire_reader_done(&rd);
        close(sv[0]);
        close(sv[1]);
        return 0;
}
