/* SPDX-License-Identifier: GPL-2.0-or-later */
/* client.c - a program built against the installed libquiesce-dev only
 * (cc client.c $(pkg-config --cflags --libs libquiesce)), as a user of the
 * package would write it: it connects to a quiesced and asks for its
 * Status, and freezes nothing. test_package.py builds and runs it.
 *   client SOCKET   prints "library V header V daemon V max-frozen D filesystems N"
 */
#include <quiesce.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: client SOCKET\n");
                return 2;
        }
        int64_t ms;
        if (qz_parse_duration("2m", &ms) < 0 || ms != 120000) {
                fprintf(stderr, "client: qz_parse_duration(\"2m\") gave %lld\n", (long long)ms);
                return 1;
        }
        qz_client *c;
        if (qz_client_open(argv[1], &c) < 0) {
                fprintf(stderr, "client: %s\n", qz_client_error(NULL));
                return 1;
        }
        qz_status *s;
        if (qz_client_status(c, &s) < 0) {
                fprintf(stderr, "client: status: %s\n", qz_client_error(c));
                qz_client_close(c);
                return 1;
        }
        char buf[32];
        printf("library %s header %s daemon %s max-frozen %s filesystems %zu\n", qz_version(),
               QZ_VERSION_STRING, s->version, qz_format_duration(s->max_frozen_ms, buf, sizeof(buf)),
               s->n_fs);
        int same = strcmp(qz_version(), QZ_VERSION_STRING) == 0;
        qz_status_free(s);
        qz_client_close(c);
        return same ? 0 : 1;
}
