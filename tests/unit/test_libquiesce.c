/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_libquiesce.c - libquiesce checked against a fake quiesced in a thread:
 * request encoding (method, paths, fds, timeouts), reply and error decoding,
 * connection failures, and the seed API's lazy, fork-safe connection. The
 * tests run in order on one fake daemon (the group's setup): test_seed counts
 * the connections test_freeze left and uses the directories it made.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonutil.h"
#include "quiesce.h"
#include "wire.h"

/* The fake daemon's own checks: cmocka's assertions belong to the test's
 * thread, this runs in the daemon's. */
#define SERVER_CHECK(cond)                                                                                   \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "%s:%d: fake quiesced: check failed: %s\n", __FILE__, __LINE__,      \
                                #cond);                                                                      \
                        abort();                                                                             \
                }                                                                                            \
        } while (0)

static char sock_path[256];
static char tmpdir[128];
static int listen_fd = -1;

/* What the fake daemon saw last, guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_object *last_request;
static int last_n_fds;
static pid_t last_peer_pid;
static int n_accepted;

static const char *status_reply =
        "{\"version\":\"0.1.0\",\"max_frozen_ms\":60000,\"counters\":{\"freezes\":3},"
        "\"filesystems\":[{\"id\":\"7:0\",\"mountpoint\":\"/mnt/a\",\"fstype\":\"ext4\","
        "\"source\":\"/dev/loop0\",\"state\":\"frozen\",\"frozen_ms\":1200,\"last_stall_ms\":4,"
        "\"ceiling_ms\":58800,\"holds\":[{\"id\":12,\"detached\":false,\"pid\":4242,\"uid\":0,"
        "\"age_ms\":1200,\"remaining_ms\":8800},{\"id\":13,\"detached\":true,\"pid\":1,\"uid\":0,"
        "\"age_ms\":10,\"remaining_ms\":-1}]},"
        "{\"id\":\"7:1\",\"mountpoint\":\"/mnt/b\",\"fstype\":\"xfs\",\"source\":\"/dev/loop1\","
        "\"state\":\"thawed\",\"frozen_ms\":300,\"ceiling_ms\":-1,\"holds\":[]}],"
        "\"writers\":[{\"id\":3,\"name\":\"pg\",\"pid\":812,\"uid\":0,\"required\":true,"
        "\"may_veto\":true,\"age_ms\":5000,\"prepare_timeout_ms\":30000,\"freeze_timeout_ms\":2000,"
        "\"thaw_timeout_ms\":10000,\"filesystems\":[{\"id\":\"7:0\",\"mountpoint\":\"/mnt/a\","
        "\"fstype\":\"ext4\",\"source\":\"/dev/loop0\",\"path\":\"/mnt/a/db\"},{\"id\":\"7:1\","
        "\"mountpoint\":\"/mnt/b\",\"fstype\":\"xfs\",\"source\":\"/dev/loop1\",\"path\":\"/mnt/b\"}],"
        "\"last\":{\"freeze\":41,\"phase\":\"thaw\",\"answer\":\"ok\",\"detail\":\"lsn=0/1\","
        "\"ago_ms\":700,\"ms\":1,\"timed_out\":false}},"
        "{\"id\":4,\"name\":\"new\",\"pid\":813,\"uid\":1000,\"required\":false,\"may_veto\":false,"
        "\"age_ms\":10,\"filesystems\":[],\"last\":null}]}";

static json_object *answer(json_object *req, int n_fds, bool *close_after) {
        const char *method = qz_json_get_string(req, "method");
        json_object *p = NULL;
        json_object_object_get_ex(req, "parameters", &p);
        int64_t declared = 0, timeout = 0;
        qz_json_get_int64(p, "fds", &declared);
        qz_json_get_int64(p, "timeout_ms", &timeout);
        if (declared != n_fds)
                return qz_json_error("io.quiesce.InvalidRequest", EINVAL, NULL, "fds %d != %d", (int)declared,
                                     n_fds);
        if (strcmp(method, "io.quiesce.Freeze") == 0) {
                json_object *paths = NULL;
                json_object_object_get_ex(p, "paths", &paths);
                const char *p0 = paths ? json_object_get_string(json_object_array_get_idx(paths, 0)) : "";
                if (timeout == 4242) {
                        *close_after = true;
                        return NULL;
                }
                if (timeout == 4343)
                        return json_tokener_parse(
                                "{\"error\":\"io.quiesce.PermissionDenied\",\"parameters\":{}}");
                if (strstr(p0, "busy"))
                        return qz_json_error(
                                "io.quiesce.Error", EBUSY, p0,
                                "%s: ext4 7:0 was frozen by another tool (not quiesce); leaving it alone",
                                p0);
                static int next_id = 1;
                json_object *h = json_object_new_object();
                json_object_object_add(h, "id", json_object_new_int(next_id++));
                bool det = false;
                qz_json_get_bool(p, "detached", &det);
                json_object_object_add(h, "detached", json_object_new_boolean(det));
                json_object_object_add(h, "remaining_ms", json_object_new_int64(timeout));
                json_object *fss = json_object_new_array();
                for (size_t i = 0; paths && i < json_object_array_length(paths); i++) {
                        json_object *f = json_object_new_object();
                        json_object_object_add(f, "id", json_object_new_string("7:0"));
                        json_object_object_add(f, "mountpoint", json_object_new_string("/mnt/a"));
                        json_object_object_add(f, "fstype", json_object_new_string("ext4"));
                        json_object_object_add(f, "source", json_object_new_string("/dev/loop0"));
                        json_object_object_add(f, "path",
                                               json_object_get(json_object_array_get_idx(paths, i)));
                        json_object_object_add(f, "stall_ms", json_object_new_int(3));
                        json_object_array_add(fss, f);
                }
                json_object_object_add(h, "filesystems", fss);
                json_object *r = json_object_new_object();
                json_object_object_add(r, "hold", h);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "parameters", r);
                return o;
        }
        if (strcmp(method, "io.quiesce.Thaw") == 0) {
                int64_t hold = 0;
                if (qz_json_get_int64(p, "hold", &hold) && hold == 999)
                        return qz_json_error("io.quiesce.Error", EINVAL, NULL, "hold 999: no such hold");
                if (hold == 7 ||
                    hold == 8) /* the released filesystems, typed by qz_client_thaw_hold_report */
                        return json_tokener_parse(
                                hold == 7
                                        ? "{\"parameters\":{\"released\":[{\"hold\":7,\"thawed\":true,"
                                          "\"frozen_ms\":812,\"filesystem\":{\"id\":\"7:0\",\"mountpoint\":"
                                          "\"/mnt/a\",\"fstype\":\"ext4\",\"source\":\"/dev/loop0\"}},"
                                          "{\"hold\":7,\"thawed\":false,\"filesystem\":{\"id\":\"7:1\"}}]}}"
                                        : "{\"error\":\"io.quiesce.FreezeBroken\",\"parameters\":{\"errno\":"
                                          "116,"
                                          "\"message\":\"broken\",\"released\":[{\"hold\":8,\"thawed\":true,"
                                          "\"frozen_ms\":90,\"filesystem\":{\"id\":\"7:2\",\"held\":false,"
                                          "\"proof\":{\"held\":false,\"breaches\":1,\"breach\":\"lifted\"}}}]"
                                          "}}");
                return json_tokener_parse("{\"parameters\":{\"released\":[]}}");
        }
        if (strcmp(method, "io.quiesce.ResetTimeout") == 0)
                return json_tokener_parse("{\"parameters\":{\"holds\":[]}}");
        if (strcmp(method, "io.quiesce.Status") == 0) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "parameters", json_tokener_parse(status_reply));
                return o;
        }
        return qz_json_error("io.quiesce.InvalidRequest", EINVAL, NULL, "unknown method %s", method);
}

static void *serve_conn(void *arg) {
        int fd = (int)(intptr_t)arg;
        qz_wire_reader r;
        qz_wire_reader_init(&r);
        for (;;) {
                char *msg = NULL;
                int k = qz_wire_next(&r, &msg);
                if (k == 0) {
                        if (qz_wire_read(&r, fd) <= 0)
                                break;
                        continue;
                }
                if (k < 0)
                        break;
                json_object *req = json_tokener_parse(msg);
                free(msg);
                SERVER_CHECK(req);
                json_object *p = NULL;
                json_object_object_get_ex(req, "parameters", &p);
                int64_t n = 0;
                qz_json_get_int64(p, "fds", &n);
                int fds[QZ_WIRE_MAX_FDS];
                int got = n > 0 && qz_wire_take_fds(&r, fds, (size_t)n) == 0 ? (int)n : 0;
                for (int i = 0; i < got; i++) {
                        struct stat st;
                        SERVER_CHECK(fstat(fds[i], &st) == 0);
                        close(fds[i]);
                }
                bool close_after = false;
                json_object *rep = answer(req, got, &close_after);
                pthread_mutex_lock(&lock);
                json_object_put(last_request);
                last_request = req;
                last_n_fds = got;
                pthread_mutex_unlock(&lock);
                if (close_after)
                        break;
                SERVER_CHECK(qz_wire_send(fd, qz_json_text(rep), NULL, 0) == 0);
                json_object_put(rep);
        }
        qz_wire_reader_done(&r);
        close(fd);
        return NULL;
}

static void *serve(void *arg) {
        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                struct ucred cred;
                socklen_t l = sizeof(cred);
                getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l);
                pthread_mutex_lock(&lock);
                n_accepted++;
                last_peer_pid = cred.pid;
                pthread_mutex_unlock(&lock);
                pthread_t t;
                pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
                pthread_detach(t);
        }
}

static json_object *request_param(const char *key) {
        pthread_mutex_lock(&lock);
        json_object *p = NULL, *v = NULL;
        json_object_object_get_ex(last_request, "parameters", &p);
        json_object_object_get_ex(p, key, &v);
        json_object_get(v);
        pthread_mutex_unlock(&lock);
        return v;
}

static const char *request_method(void) {
        pthread_mutex_lock(&lock);
        const char *m = qz_json_get_string(last_request, "method");
        pthread_mutex_unlock(&lock);
        return m;
}

static void test_no_daemon(void **state) {
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/nothing.sock", tmpdir);
        qz_client *c = (qz_client *)1;
        assert_true(qz_client_open(missing, &c) == -ENOENT);
        assert_true(c == NULL);
        char want[400];
        snprintf(want, sizeof(want),
                 "cannot connect to quiesced at %s: No such file or directory (is quiesced running?)",
                 missing);
        assert_true(strcmp(qz_client_error(NULL), want) == 0);
}

static void test_freeze(void **state) {
        qz_client *c;
        assert_true(qz_client_open(sock_path, &c) == 0);
        assert_true(qz_client_fd(c) >= 0);
        assert_true(qz_client_last_reply(c) == NULL);

        char sub[256];
        snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
        assert_true(mkdir(sub, 0700) == 0);
        assert_true(chdir(tmpdir) == 0);
        const char *paths[] = {"sub", tmpdir};
        qz_hold *h;
        assert_true(qz_client_freeze(c, paths, 2, 5000, QZ_FREEZE_DETACHED, &h) == 0);
        assert_true(strcmp(request_method(), "io.quiesce.Freeze") == 0);
        assert_true(last_n_fds == 2);
        json_object *rp = request_param("paths");
        assert_true(json_object_array_length(rp) == 2);
        assert_true(strcmp(json_object_get_string(json_object_array_get_idx(rp, 0)), sub) ==
                    0); /* realpath */
        json_object_put(rp);
        json_object *det = request_param("detached");
        assert_true(json_object_get_boolean(det));
        json_object_put(det);
        assert_true(h->id == 1 && h->detached && h->remaining_ms == 5000 && h->n_fs == 2);
        assert_true(strcmp(h->fs[0].id, "7:0") == 0 && strcmp(h->fs[0].mountpoint, "/mnt/a") == 0);
        assert_true(strcmp(h->fs[0].path, sub) == 0 && h->fs[0].stall_ms == 3);
        assert_true(strstr(qz_client_last_reply(c), "\"hold\""));
        qz_hold_free(h);

        /* no deadline, not detached */
        assert_true(qz_client_freeze(c, paths, 1, QZ_NO_DEADLINE, 0, &h) == 0);
        json_object *t = request_param("timeout_ms");
        assert_true(json_object_get_int64(t) == -1);
        json_object_put(t);
        assert_true(!h->detached && h->remaining_ms == -1);
        qz_hold_free(h);

        /* bad timeouts never reach the daemon */
        assert_true(qz_client_freeze(c, paths, 1, 0, 0, &h) == -EINVAL);
        assert_true(qz_client_freeze(c, paths, 1, -5, 0, &h) == -EINVAL);
        assert_true(qz_client_freeze(c, paths, 0, 1000, 0, &h) == -EINVAL);

        /* a missing path fails locally, named */
        const char *missing[] = {"/nonexistent/quiesce-test"};
        assert_true(qz_client_freeze(c, missing, 1, 1000, 0, &h) == -ENOENT);
        assert_true(strcmp(qz_client_error(c), "/nonexistent/quiesce-test: No such file or directory") == 0);

        /* an unreadable file is passed as O_PATH (as root, make it a socket) */
        char sockfile[300];
        snprintf(sockfile, sizeof(sockfile), "%s/sockfile", tmpdir);
        int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, sockfile);
        assert_true(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        const char *sp[] = {sockfile};
        assert_true(qz_client_freeze(c, sp, 1, 1000, 0, &h) == 0);
        assert_true(last_n_fds == 1);
        qz_hold_free(h);
        close(sfd);

        /* daemon errors: errno and message */
        char busy[256];
        snprintf(busy, sizeof(busy), "%s/busy", tmpdir);
        assert_true(mkdir(busy, 0700) == 0);
        const char *bp[] = {busy};
        assert_true(qz_client_freeze(c, bp, 1, 1000, 0, &h) == -EBUSY);
        assert_true(strstr(qz_client_error(c), "was frozen by another tool") &&
                    strstr(qz_client_error(c), busy));
        assert_true(strstr(qz_client_last_reply(c), "\"errno\":16"));

        /* thaw / reset */
        assert_true(qz_client_thaw_hold(c, 999) == -EINVAL);
        assert_true(strcmp(qz_client_error(c), "hold 999: no such hold") == 0);
        assert_true(qz_client_thaw_hold(c, 1) == 0);
        qz_thaw_report *tr;
        assert_true(qz_client_thaw_hold_report(c, 999, &tr) == -EINVAL && tr == NULL);
        assert_true(qz_client_thaw_hold_report(c, 1, &tr) == 0 && tr && tr->n_released == 0);
        qz_thaw_report_free(tr);
        assert_true(qz_client_thaw_hold_report(c, 7, &tr) == 0 && tr->n_released == 2);
        const qz_release *rel = qz_thaw_report_find(tr, "7:0");
        assert_true(rel && rel->hold == 7 && rel->thawed && rel->frozen_ms == 812);
        assert_true(strcmp(rel->fs.mountpoint, "/mnt/a") == 0 && strcmp(rel->fs.fstype, "ext4") == 0);
        rel = qz_thaw_report_find(tr, "7:1");
        assert_true(rel && !rel->thawed && rel->frozen_ms == -1);
        assert_null(qz_thaw_report_find(tr, "7:9"));
        qz_thaw_report_free(tr);
        assert_true(qz_client_thaw_hold_report(c, 8, &tr) == -QZ_EBROKEN && tr && tr->n_released == 1);
        rel = &tr->released[0];
        assert_true(strcmp(rel->fs.id, "7:2") == 0 && rel->frozen_ms == 90 && !rel->fs.held);
        assert_true(rel->fs.proof.known && !rel->fs.proof.held &&
                    strcmp(rel->fs.proof.breach, "lifted") == 0);
        qz_thaw_report_free(tr);
        assert_true(qz_client_thaw_paths(c, paths, 2) == 0);
        assert_true(last_n_fds == 2);
        assert_true(qz_client_reset_timeout_paths(c, paths, 1, 2000) == 0);
        assert_true(strcmp(request_method(), "io.quiesce.ResetTimeout") == 0);
        assert_true(qz_client_reset_timeout_hold(c, 3, 0) == -EINVAL);
        assert_true(qz_client_reset_timeout_hold(c, 3, QZ_NO_DEADLINE) == 0);
        int fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
        assert_true(qz_client_thaw_fds(c, &fd, 1) == 0);
        rp = request_param("paths");
        assert_true(rp && strcmp(json_object_get_string(json_object_array_get_idx(rp, 0)), tmpdir) == 0);
        json_object_put(rp);
        close(fd);

        /* status */
        qz_status *s;
        assert_true(qz_client_status(c, &s) == 0);
        assert_true(strcmp(s->version, "0.1.0") == 0 && s->max_frozen_ms == 60000 && s->n_fs == 2);
        assert_true(s->n_counters == 1 && strcmp(s->counters[0].name, "freezes") == 0 &&
                    s->counters[0].value == 3);
        assert_true(strcmp(s->fs[0].state, "frozen") == 0 && s->fs[0].n_holds == 2);
        assert_true(s->fs[0].holds[0].id == 12 && s->fs[0].holds[0].pid == 4242 &&
                    s->fs[0].holds[0].remaining_ms == 8800);
        assert_true(s->fs[0].holds[1].detached && s->fs[0].holds[1].remaining_ms == -1);
        assert_true(s->fs[0].last_stall_ms == 4 && s->fs[0].fs.stall_ms == -1 &&
                    s->fs[0].ceiling_ms == 58800);
        assert_true(s->fs[1].last_stall_ms == -1 && s->fs[1].n_holds == 0 && s->fs[1].fs.path == NULL);
        assert_true(s->n_writers == 2);
        const qz_writer_status *w = &s->writers[0];
        assert_true(strcmp(w->name, "pg") == 0 && w->id == 3 && w->pid == 812 && w->uid == 0 && w->required &&
                    w->may_veto && w->age_ms == 5000 && w->freeze_timeout_ms == 2000);
        assert_true(w->n_fs == 2 && strcmp(w->fs[1].id, "7:1") == 0 &&
                    strcmp(w->fs[1].mountpoint, "/mnt/b") == 0 && strcmp(w->fs[0].path, "/mnt/a/db") == 0 &&
                    strcmp(w->fs[1].fstype, "xfs") == 0);
        assert_true(w->last_freeze_id == 41 && strcmp(w->last_phase, "thaw") == 0 &&
                    strcmp(w->last_answer, "ok") == 0 && strcmp(w->last_detail, "lsn=0/1") == 0 &&
                    w->last_ago_ms == 700 && w->last_ms == 1 && !w->last_timed_out);
        w = &s->writers[1];
        assert_true(strcmp(w->name, "new") == 0 && w->uid == 1000 && !w->may_veto && w->n_fs == 0 &&
                    w->last_freeze_id == 0 && w->last_phase[0] == '\0' && w->last_ago_ms == -1 &&
                    w->last_detail == NULL && w->prepare_timeout_ms == -1);
        qz_status_free(s);
        char *js;
        assert_true(qz_client_status_json(c, &js) == 0);
        assert_true(strstr(js, "\"counters\""));
        free(js);

        /* permission denied without errno */
        assert_true(qz_client_freeze(c, paths, 1, 4343, 0, &h) == -EPERM);

        /* the daemon hangs up without a reply */
        assert_true(qz_client_freeze(c, paths, 1, 4242, 0, &h) == -ECONNRESET);
        assert_true(strstr(qz_client_error(c), "closed the connection"));
        assert_true(qz_client_fd(c) == -1);
        assert_true(qz_client_thaw_hold(c, 1) == -ENOTCONN);
        qz_client_close(c);
}

static void test_seed(void **state) {
        setenv(QZ_SOCKET_ENV, sock_path, 1);
        int fd = open(tmpdir, O_RDONLY | O_DIRECTORY);
        long t = 5;
        int before = n_accepted;
        assert_true(qz_freeze(fd, &t) == 0);
        assert_true(n_accepted == before + 1);
        json_object *v = request_param("timeout_ms");
        assert_true(json_object_get_int64(v) == 5000);
        json_object_put(v);
        t = 1;
        assert_true(qz_freeze(fd, &t) == 0);
        v = request_param("timeout_ms");
        assert_true(json_object_get_int64(v) == -1);
        json_object_put(v);
        assert_true(n_accepted == before + 1); /* one connection per process */
        assert_true(qz_reset_timeout(fd, &t) == 0);
        assert_true(qz_thaw(fd) == 0);
        assert_true(strcmp(request_method(), "io.quiesce.Thaw") == 0);
        t = -3;
        errno = 0;
        assert_true(qz_freeze(fd, &t) == -1 && errno == EINVAL);
        assert_true(qz_thaw(-1) == -1 && errno == EBADF);

        char busy[256];
        snprintf(busy, sizeof(busy), "%s/busy", tmpdir);
        int bfd = open(busy, O_RDONLY | O_DIRECTORY);
        t = 10;
        assert_true(qz_freeze(bfd, &t) == -1 && errno == EBUSY);
        assert_true(strstr(qz_strerror_detail(), "frozen by another tool"));
        close(bfd);

        /* a forked child gets its own connection */
        pid_t pid = fork();
        if (pid == 0) {
                long tt = 7;
                _exit(qz_freeze(fd, &tt) == 0 ? 0 : 1);
        }
        int st;
        assert_true(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        pthread_mutex_lock(&lock);
        assert_true(n_accepted == before + 2 && last_peer_pid == pid);
        pthread_mutex_unlock(&lock);
        assert_true(qz_thaw(fd) == 0); /* the parent's connection still works */
        assert_true(n_accepted == before + 2);
        close(fd);

        /* no daemon */
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/none.sock", tmpdir);
        pid = fork();
        if (pid == 0) {
                setenv(QZ_SOCKET_ENV, missing, 1);
                long tt = 7;
                int dfd = open("/", O_RDONLY);
                int ok = qz_freeze(dfd, &tt) == -1 && errno == ENOENT &&
                         strstr(qz_strerror_detail(), "is quiesced running?");
                _exit(ok ? 0 : 1);
        }
        assert_true(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_durations(void **state) {
        int64_t ms;
        assert_true(qz_parse_duration("500ms", &ms) == 0 && ms == 500);
        assert_true(qz_parse_duration("none", &ms) == 0 && ms == QZ_NO_DEADLINE);
        assert_true(qz_parse_duration("2m", &ms) == 0 && ms == 120000);
        assert_true(qz_parse_duration("x", &ms) < 0);
        assert_true(strcmp(qz_version(), QZ_VERSION_STRING) == 0);
}

static int setup(void **state) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/qz-libtest.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        snprintf(sock_path, sizeof(sock_path), "%s/q.sock", tmpdir);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, sock_path);
        if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listen_fd, 16) < 0)
                return -1;
        pthread_t t;
        return pthread_create(&t, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_no_daemon),
                cmocka_unit_test(test_freeze),
                cmocka_unit_test(test_seed),
        };
        return cmocka_run_group_tests_name("libquiesce", tests, setup, teardown);
}
