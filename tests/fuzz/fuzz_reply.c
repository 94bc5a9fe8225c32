/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_reply.c - libquiesce reading quiesced's replies: the bytes of a
 * reply arrive on a real socketpair and go through qz_client_call (framing,
 * JSON, error envelopes, errno mapping) and the decoders of holds, status
 * and Thaw reports (decode.c) of the call byte 0 picks. A hostile or
 * broken daemon must get an error, never a crash or a leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 200000)
                return 0;
        uint8_t which = data[0];
        data++, size--;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        int bufsize = 1 << 20;
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
        setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        size_t off = 0;
        while (off < size) {
                ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
                if (n <= 0)
                        break;
                off += (size_t)n;
        }
        if (which & 0x80) /* a reply without its NUL, then EOF */
                shutdown(sv[1], SHUT_WR);
        else {
                (void)send(sv[1], "", 1, MSG_NOSIGNAL);
                shutdown(sv[1], SHUT_WR);
        }

        qz_client *c = calloc(1, sizeof(*c));
        if (!c)
                abort();
        c->fd = sv[0];
        c->socket_path = strdup("/fuzz/quiesced.sock");
        qz_wire_reader_init(&c->reader);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        switch (which & 7) {
        case 0: {
                qz_status *s = NULL;
                if (qz_client_status(c, &s) == 0 && !s)
                        abort();
                qz_status_free(s);
                break;
        }
        case 1: {
                qz_hold *h = NULL;
                int r = qz_client_freeze_fds(c, &fd, 1, 5000, 0, &h);
                if (r == 0 && !h)
                        abort();
                if (r < 0 && (r < -4095 || h))
                        abort();
                qz_hold_free(h);
                break;
        }
        case 2:
                (void)qz_client_thaw_hold(c, 7);
                break;
        case 3:
                (void)qz_client_reset_timeout_hold(c, 7, 1000);
                break;
        case 4: {
                char *json = NULL;
                (void)qz_client_status_json(c, &json);
                free(json);
                break;
        }
        default: {
                json_object *p = NULL;
                int r = qz_client_call(c, "io.quiesce.GetInfo", NULL, NULL, 0, &p);
                if (r == 0) {
                        qz_hold *h = NULL;
                        qz_status *s = NULL;
                        json_object *ho = NULL;
                        json_object_object_get_ex(p, "hold", &ho);
                        (void)qz_decode_hold(ho, &h);
                        (void)qz_decode_status(p, &s);
                        qz_thaw_report *t = NULL;
                        if (qz_decode_thaw(p, &t) == 0 && !t)
                                abort(); /* 0 always gives a report */
                        qz_hold_free(h);
                        qz_status_free(s);
                        qz_thaw_report_free(t);
                }
                json_object_put(p);
                break;
        }
        }
        if (strlen(qz_client_error(c)) >= sizeof(c->error))
                abort();
        (void)qz_client_last_reply(c);
        if (fd >= 0)
                close(fd);
        qz_client_close(c);
        close(sv[1]);
        return 0;
}
