/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_wire.c - unit tests of the protocol framing (src/common/wire.c):
 * NUL-separated messages split and joined across reads, descriptors riding
 * along, and the size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

static void test_two_messages_one_read(void **state) {
        (void)state;
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(write(sv[0], "{\"a\":1}\0{\"b\":2}\0{\"c\"", 20), 20);
        qz_wire_reader r;
        qz_wire_reader_init(&r);
        assert_true(qz_wire_read(&r, sv[1]) > 0);
        char *m;
        assert_int_equal(qz_wire_next(&r, &m), 1);
        assert_string_equal(m, "{\"a\":1}");
        free(m);
        assert_int_equal(qz_wire_next(&r, &m), 1);
        assert_string_equal(m, "{\"b\":2}");
        free(m);
        assert_int_equal(qz_wire_next(&r, &m), 0); /* the third is incomplete */
        assert_int_equal(write(sv[0], ":3}", 4), 4);
        assert_true(qz_wire_read(&r, sv[1]) > 0);
        assert_int_equal(qz_wire_next(&r, &m), 1);
        assert_string_equal(m, "{\"c\":3}");
        free(m);
        close(sv[0]);
        assert_int_equal(qz_wire_read(&r, sv[1]), 0); /* EOF */
        qz_wire_reader_done(&r);
        close(sv[1]);
}

static void test_descriptors(void **state) {
        (void)state;
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        int fds[2] = {open("/", O_RDONLY | O_DIRECTORY), open("/dev/null", O_RDONLY)};
        assert_int_equal(qz_wire_send(sv[0], "{\"fds\":2}", fds, 2), 0);
        qz_wire_reader r;
        qz_wire_reader_init(&r);
        assert_true(qz_wire_read(&r, sv[1]) > 0);
        char *m;
        assert_int_equal(qz_wire_next(&r, &m), 1);
        free(m);
        int got[3];
        assert_int_equal(qz_wire_take_fds(&r, got, 3), -EBADMSG);
        assert_int_equal(qz_wire_take_fds(&r, got, 2), 0);
        struct stat a, b;
        assert_int_equal(fstat(got[1], &a), 0);
        assert_int_equal(fstat(fds[1], &b), 0);
        assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        close(got[0]), close(got[1]), close(fds[0]), close(fds[1]);
        qz_wire_reader_done(&r);
        close(sv[0]), close(sv[1]);
}

static void test_oversized(void **state) {
        (void)state;
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        size_t n = QZ_WIRE_MAX_MESSAGE + 100;
        char *big = malloc(n);
        memset(big, 'x', n);
        qz_wire_reader r;
        qz_wire_reader_init(&r);
        int rc = 0;
        size_t off = 0;
        while (off < n && rc == 0) {
                ssize_t w = write(sv[0], big + off, n - off > 4096 ? 4096 : n - off);
                assert_true(w > 0);
                off += (size_t)w;
                while (qz_wire_read(&r, sv[1]) > 0 && r.len < off)
                        ;
                char *m;
                rc = qz_wire_next(&r, &m);
        }
        assert_int_equal(rc, -EMSGSIZE);
        free(big);
        qz_wire_reader_done(&r);
        close(sv[0]), close(sv[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_two_messages_one_read),
                cmocka_unit_test(test_descriptors),
                cmocka_unit_test(test_oversized),
        };
        return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
