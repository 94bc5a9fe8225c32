/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pingpong.c - the machine's floor for one quiesced request: a request/reply
 * round trip over an AF_UNIX stream socket between two processes, with
 * nothing else done on either side.
 *
 *   pingpong [--duration SEC] [--request-bytes N] [--reply-bytes M]
 *
 * The parent is the client, as libquiesce is: a blocking sendmsg of an
 * N-byte NUL-terminated message, then recvmsg until the M-byte reply's NUL.
 * The child is the server, as quiesced is: a non-blocking socket in epoll,
 * one recvmsg per wake-up, and a non-blocking send of the reply. Pin it with
 * taskset (both processes inherit the affinity). Prints one JSON object:
 * round trips per second and the p50/p99/p999/mean round trip in µs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fill(char *b, size_t n) {
        memset(b, 'x', n);
        b[n - 1] = '\0';
}

/* The server: epoll, one recvmsg per wake-up, a reply per complete message. */
static int serve(int fd, size_t reply_bytes) {
        char in[65536], *out = malloc(reply_bytes);
        if (!out)
                return 1;
        fill(out, reply_bytes);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                return 1;
        for (;;) {
                struct epoll_event got;
                int n = epoll_wait(ep, &got, 1, -1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return 1;
                struct iovec iov = {.iov_base = in, .iov_len = sizeof(in)};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (r == 0)
                        return 0;
                if (r < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return 1;
                }
                for (ssize_t i = 0; i < r; i++)
                        if (in[i] == '\0' && send(fd, out, reply_bytes, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                                return 1;
        }
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static double pct_us(const int64_t *v, size_t n, double q) {
        if (!n)
                return 0;
        size_t k = (size_t)(q * (double)n);
        return (double)v[k >= n ? n - 1 : k] / 1000.0;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"duration", required_argument, NULL, 'd'},
                {"request-bytes", required_argument, NULL, 'q'},
                {"reply-bytes", required_argument, NULL, 'r'},
                {NULL, 0, NULL, 0},
        };
        double duration = 2.0;
        long req_bytes = 110, reply_bytes = 330;
        int c;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        duration = atof(optarg);
                        break;
                case 'q':
                        req_bytes = atol(optarg);
                        break;
                case 'r':
                        reply_bytes = atol(optarg);
                        break;
                default:
                        return 2;
                }
        }
        if (optind != argc || duration <= 0 || req_bytes < 2 || req_bytes > 65536 || reply_bytes < 2 ||
            reply_bytes > 65536) {
                fprintf(stderr, "usage: pingpong [--duration SEC] [--request-bytes N] [--reply-bytes M]\n");
                return 2;
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                perror("pingpong: socketpair");
                return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
                perror("pingpong: fork");
                return 1;
        }
        if (pid == 0) {
                close(sv[0]);
                _exit(serve(sv[1], (size_t)reply_bytes));
        }
        close(sv[1]);
        int fd = sv[0];
        char *req = malloc((size_t)req_bytes), in[65536];
        size_t cap = 1 << 16, n = 0;
        int64_t *rt = malloc(cap * sizeof(*rt));
        if (!req || !rt)
                return 1;
        fill(req, (size_t)req_bytes);
        int64_t start = mono_ns(), end = start + (int64_t)(duration * 1e9), t0 = start;
        int rc = 0;
        while ((t0 = mono_ns()) < end) {
                struct iovec iov = {.iov_base = req, .iov_len = (size_t)req_bytes};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                if (sendmsg(fd, &mh, MSG_NOSIGNAL) != req_bytes) {
                        perror("pingpong: sendmsg");
                        rc = 1;
                        break;
                }
                long got = 0;
                while (got < reply_bytes) {
                        struct iovec riov = {.iov_base = in, .iov_len = sizeof(in)};
                        struct msghdr rmh = {.msg_iov = &riov, .msg_iovlen = 1};
                        ssize_t r = recvmsg(fd, &rmh, MSG_CMSG_CLOEXEC);
                        if (r <= 0) {
                                perror("pingpong: recvmsg");
                                rc = 1;
                                break;
                        }
                        got += r;
                }
                if (rc)
                        break;
                if (n == cap) {
                        int64_t *b = realloc(rt, cap * 2 * sizeof(*rt));
                        if (!b) {
                                rc = 1;
                                break;
                        }
                        rt = b;
                        cap *= 2;
                }
                rt[n++] = mono_ns() - t0;
        }
        double secs = (double)(mono_ns() - start) / 1e9;
        close(fd);
        int st;
        waitpid(pid, &st, 0);
        double sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += (double)rt[i];
        qsort(rt, n, sizeof(*rt), cmp_i64);
        printf("{\"round_trips\":%zu,\"seconds\":%.3f,\"per_s\":%.0f,\"request_bytes\":%ld,\"reply_bytes\":%"
               "ld,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"mean_us\":%.1f,\"max_us\":%.1f}\n",
               n, secs, (double)n / secs, req_bytes, reply_bytes, pct_us(rt, n, 0.5), pct_us(rt, n, 0.99),
               pct_us(rt, n, 0.999), n ? sum / (double)n / 1000.0 : 0.0,
               n ? (double)rt[n - 1] / 1000.0 : 0.0);
        return rc;
}
