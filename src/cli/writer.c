/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c - `quiesce writer [options] PATH...`: a long-running writer for
 * administrators on the library's writer API. Each phase: the --session
 * helper's line exchange (writer_session.c), then the phase's command (an
 * argv template, no shell, run by child.c); the exit status is the answer.
 * If quiesced goes away, a freeze in progress is thawed at once, and the
 * writer registers again when quiesced is back.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "child.h"
#include "cleanup.h"
#include "cli.h"
#include "template.h"
#include "xalloc.h"

#define WRITER_PREPARE_DEFAULT_MS 30000
#define WRITER_FREEZE_DEFAULT_MS 2000
#define WRITER_THAW_DEFAULT_MS 10000
#define RECONNECT_MAX_USEC (10 * USEC_PER_SEC)
#define SESSION_STOP_GRACE_USEC (5 * USEC_PER_SEC)

struct writer {
        struct cli *cli;
        const char *name;
        const char *cmd[4]; /* by qz_writer_phase; NULL none */
        const char *session;
        bool required, json;
        int64_t timeout_ms[4];
        char **paths;
        size_t n_paths;
        char *paths_joined;
        qz_writer *w;
        struct wsession s;
        bool have_session;
        sigset_t old_mask;
};

static const char *const phase_opt[4] = {"--prepare", "--freeze", "--thaw", "--abort"};

/* A phase's placeholders; the session's (phase NULL) are {name} and {paths}. */
static size_t vars_for(const struct writer *W, const char *phase, const char *freeze, qz_placeholder v[4]) {
        size_t n = 0;
        v[n++] = (qz_placeholder){"name", W->name};
        v[n++] = (qz_placeholder){"paths", W->paths_joined};
        if (phase) {
                v[n++] = (qz_placeholder){"phase", phase};
                v[n++] = (qz_placeholder){"freeze", freeze};
        }
        return n;
}

/* tmpl as an argv with the placeholders filled; NULL and a message naming
 * opt when it names an unknown placeholder. */
static char **make_argv(const struct writer *W, const char *opt, const char *tmpl, const char *phase,
                        const char *freeze) {
        qz_placeholder v[4];
        size_t n_vars = vars_for(W, phase, freeze, v);
        size_t n;
        char **t = qz_template_split(tmpl, &n);
        if (!t || n == 0) {
                cli_error("writer: %s: an empty command", opt);
                qz_strv_free(t);
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *unknown = NULL;
                char *a = qz_template_substitute(t[i], v, n_vars, &unknown);
                if (!a) {
                        cli_error("writer: %s '%s': unknown placeholder %s (known: {phase} {name} {freeze} "
                                  "{paths}%s)",
                                  opt, tmpl, unknown,
                                  phase ? "" : "; --session takes {name} and {paths} only");
                        qz_strv_free(t);
                        return NULL;
                }
                free(t[i]);
                t[i] = a;
        }
        return t;
}

static qz_writer_verdict parse_answer(const char *line, char **ret_detail) {
        const char *rest;
        qz_writer_verdict v;
        if (strncmp(line, "ok", 2) == 0 && (line[2] == '\0' || line[2] == ' '))
                v = QZ_WRITER_OK, rest = line + 2;
        else if (strncmp(line, "veto", 4) == 0 && (line[4] == '\0' || line[4] == ' '))
                v = QZ_WRITER_VETO, rest = line + 4;
        else if (strncmp(line, "fail", 4) == 0 && (line[4] == '\0' || line[4] == ' '))
                v = QZ_WRITER_FAIL, rest = line + 4;
        else {
                *ret_detail = xasprintf("the session helper answered '%.100s', not ok, veto or fail", line);
                return QZ_WRITER_FAIL;
        }
        while (*rest == ' ')
                rest++;
        *ret_detail = *rest ? xstrdup(rest) : NULL;
        return v;
}

/* The phase's own command: its exit status is the answer. */
static qz_writer_verdict run_command(struct writer *W, const qz_writer_event *ev, usec_t deadline,
                                     char **ret_detail) {
        const char *phase = qz_writer_phase_name(ev->phase);
        char id[24];
        snprintf(id, sizeof(id), "%" PRIu64, ev->freeze_id);
        char **argv = make_argv(W, phase_opt[ev->phase], W->cmd[ev->phase], phase, id);
        if (!argv) {
                *ret_detail = xstrdup("bad command template");
                return QZ_WRITER_FAIL;
        }
        _cleanup_free_ char *e1 = xasprintf("QUIESCE_WRITER_PHASE=%s", phase);
        _cleanup_free_ char *e2 = xasprintf("QUIESCE_WRITER_NAME=%s", W->name);
        _cleanup_free_ char *e3 = xasprintf("QUIESCE_FREEZE_ID=%s", id);
        char *env[] = {e1, e2, e3, NULL};
        qz_child_spec spec = {.argv = argv,
                              .exec_fd = -1,
                              .env_add = env,
                              .deadline = deadline,
                              .kill_grace = USEC_PER_SEC / 2,
                              .reap_wait = USEC_PER_SEC,
                              .sigmask = &W->old_mask};
        qz_child_result res;
        qz_writer_verdict v = QZ_WRITER_OK;
        int r = qz_child_run(&spec, &res);
        char line[256], how[64];
        if (r < 0) {
                *ret_detail = xasprintf("cannot run %s: %s", argv[0], strerror(-r));
                v = QZ_WRITER_FAIL;
        } else if (!res.started || res.exec_errno) {
                *ret_detail = xasprintf("cannot run %s: %s", argv[0], strerror(res.exec_errno));
                v = QZ_WRITER_FAIL;
        } else if (res.timed_out || !res.reaped || qz_child_exit_status(res.status) != 0) {
                qz_child_first_line(&res, line, sizeof(line));
                qz_child_describe(&res, how, sizeof(how));
                *ret_detail =
                        line[0] ? xasprintf("%s (%s: %s)", line, argv[0], how)
                                : xasprintf("%s: %s%s", argv[0], how, res.timed_out ? ", timed out" : "");
                v = ev->phase == QZ_WRITER_PREPARE ? QZ_WRITER_VETO : QZ_WRITER_FAIL;
        }
        if (r == 0)
                qz_child_result_done(&res);
        qz_strv_free(argv);
        return v;
}

/* The session helper's part of a phase; OK when there is none to ask. */
static qz_writer_verdict session_phase(struct writer *W, const qz_writer_event *ev, usec_t deadline,
                                       char **ret_detail) {
        struct wsession *s = &W->s;
        const char *phase = qz_writer_phase_name(ev->phase);
        _cleanup_free_ char *error = NULL;
        wsession_poll_idle(s);
        if (ev->phase == QZ_WRITER_PREPARE && !wsession_alive(s)) {
                if (qz_now() < s->next_start) {
                        *ret_detail = xstrdup("the session helper died; it restarts after a backoff");
                        return QZ_WRITER_FAIL;
                }
                if (wsession_start(s, deadline, &error) < 0) {
                        *ret_detail = TAKE_PTR(error);
                        return QZ_WRITER_FAIL;
                }
                fprintf(stderr, "quiesce writer %s: the session helper was restarted\n", W->name);
        }
        if ((ev->phase == QZ_WRITER_THAW && !s->frozen) ||
            (ev->phase == QZ_WRITER_ABORT && (!s->prepared || s->frozen)))
                return QZ_WRITER_OK; /* nothing of this freeze to release in it */
        if (ev->phase == QZ_WRITER_FREEZE && (!wsession_alive(s) || !s->prepared)) {
                *ret_detail = xstrdup("the session helper died after prepare");
                return QZ_WRITER_FAIL;
        }
        _cleanup_free_ char *line = NULL;
        if (wsession_phase(s, phase, deadline, &line, &error) < 0) {
                cli_error("writer %s: freeze %" PRIu64 ": %s", W->name, ev->freeze_id, error);
                *ret_detail = TAKE_PTR(error);
                return QZ_WRITER_FAIL;
        }
        qz_writer_verdict v = parse_answer(line, ret_detail);
        if (v == QZ_WRITER_VETO && ev->phase != QZ_WRITER_PREPARE)
                v = QZ_WRITER_FAIL; /* only prepare can refuse */
        if (v == QZ_WRITER_OK && ev->phase == QZ_WRITER_PREPARE)
                s->backoff = 0; /* it works again */
        return v;
}

static void report(struct writer *W, const qz_writer_event *ev, qz_writer_verdict v, const char *detail,
                   usec_t took) {
        static const char *const names[] = {"ok", "veto", "fail"};
        const char *phase = qz_writer_phase_name(ev->phase);
        if (W->json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "writer", json_object_new_string(W->name));
                json_object_object_add(o, "freeze", json_object_new_uint64(ev->freeze_id));
                json_object_object_add(o, "phase", json_object_new_string(phase));
                json_object_object_add(o, "answer", json_object_new_string(names[v]));
                if (detail)
                        json_object_object_add(o, "detail", json_object_new_string(detail));
                json_object_object_add(o, "ms", json_object_new_int64((int64_t)(took / 1000)));
                json_object_object_add(o, "daemon_gone", json_object_new_boolean(ev->daemon_gone));
                printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                fflush(stdout);
                json_object_put(o);
        }
        fprintf(stderr, "quiesce writer %s: freeze %" PRIu64 ": %s: %s%s%s (%" PRIu64 " ms)%s\n", W->name,
                ev->freeze_id, phase, names[v], detail ? ": " : "", detail ? detail : "", took / 1000,
                ev->daemon_gone ? " (quiesced went away)" : "");
}

static void on_event(qz_writer *w, const qz_writer_event *ev, void *userdata) {
        struct writer *W = userdata;
        usec_t start = qz_now();
        int64_t ms = ev->timeout_ms > 0 ? ev->timeout_ms : W->timeout_ms[ev->phase];
        usec_t deadline = start + (usec_t)ms * 1000;
        _cleanup_free_ char *detail = NULL;
        qz_writer_verdict v = QZ_WRITER_OK;
        if (W->have_session)
                v = session_phase(W, ev, deadline, &detail);
        /* The phase's command after the session's ok; a thaw's always. */
        if (W->cmd[ev->phase] && (v == QZ_WRITER_OK || ev->phase == QZ_WRITER_THAW)) {
                _cleanup_free_ char *cdetail = NULL;
                qz_writer_verdict cv = run_command(W, ev, deadline, &cdetail);
                if (v == QZ_WRITER_OK && (cv != QZ_WRITER_OK || cdetail)) {
                        v = cv;
                        free(detail);
                        detail = TAKE_PTR(cdetail);
                }
        }
        report(W, ev, v, detail, qz_now() - start);
        if (!ev->daemon_gone && qz_writer_answer(w, ev->freeze_id, ev->phase, v, detail) < 0)
                cli_error("writer %s: %s", W->name, qz_writer_error(w));
}

static int do_register(struct writer *W, bool first) {
        qz_writer_options o = {.name = W->name,
                               .required = W->required,
                               .prepare_timeout_ms = W->timeout_ms[QZ_WRITER_PREPARE],
                               .freeze_timeout_ms = W->timeout_ms[QZ_WRITER_FREEZE],
                               .thaw_timeout_ms = W->timeout_ms[QZ_WRITER_THAW],
                               .socket_path = W->cli->socket};
        qz_writer_callbacks cb = {on_event, on_event, on_event, on_event};
        int r = qz_writer_open(&o, (const char *const *)W->paths, W->n_paths, &cb, W, &W->w);
        if (r < 0) {
                if (first)
                        cli_error("%s", qz_writer_error(NULL));
                return r;
        }
        fprintf(stderr, "quiesce writer %s: registered with quiesced (writer id %" PRIu64 ") for %s\n",
                W->name, qz_writer_id(W->w), W->paths_joined);
        return 0;
}

/* Until a signal: events, the helper's death, reconnections. */
static int loop(struct writer *W, int sigfd) {
        usec_t reconnect_at = 0, backoff = USEC_PER_SEC;
        for (;;) {
                struct pollfd p[3] = {{.fd = sigfd, .events = POLLIN},
                                      {.fd = W->w ? qz_writer_fd(W->w) : -1, .events = POLLIN},
                                      {.fd = W->have_session ? W->s.out_r : -1, .events = POLLIN}};
                int timeout = -1;
                if (!W->w) {
                        usec_t now = qz_now();
                        timeout = now >= reconnect_at ? 0 : (int)((reconnect_at - now + 999) / 1000);
                }
                if (poll(p, 3, timeout) < 0 && errno != EINTR)
                        return -errno;
                if (p[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                                fprintf(stderr, "quiesce writer %s: %s; exiting\n", W->name,
                                        strsignal((int)si.ssi_signo));
                        return 0;
                }
                if (p[2].revents)
                        wsession_poll_idle(&W->s);
                if (W->w && p[1].revents && qz_writer_dispatch(W->w) == -ECONNRESET) {
                        fprintf(stderr, "quiesce writer %s: %s; registering again when it is back\n", W->name,
                                qz_writer_error(W->w));
                        qz_writer_close(W->w);
                        W->w = NULL;
                        reconnect_at = qz_now() + backoff;
                        continue;
                }
                if (!W->w && qz_now() >= reconnect_at) {
                        if (do_register(W, false) == 0) {
                                backoff = USEC_PER_SEC;
                        } else {
                                backoff = backoff * 2 > RECONNECT_MAX_USEC ? RECONNECT_MAX_USEC : backoff * 2;
                                reconnect_at = qz_now() + backoff;
                        }
                }
        }
}

static int parse_ms(const char *opt, const char *text, int64_t *ret) {
        if (qz_parse_duration(text, ret) < 0 || *ret <= 0) {
                cli_usage_error("writer: invalid %s '%s' (e.g. 500ms, 2s, 1m)", opt, text);
                return -1;
        }
        return 0;
}

int cmd_writer(struct cli *cli, int argc, char **argv) {
        static const struct option longopts[] = {
                {"name", required_argument, NULL, 'n'},
                {"prepare", required_argument, NULL, 'P'},
                {"freeze", required_argument, NULL, 'F'},
                {"thaw", required_argument, NULL, 'T'},
                {"abort", required_argument, NULL, 'A'},
                {"session", required_argument, NULL, 'S'},
                {"required", no_argument, NULL, 'r'},
                {"timeout", required_argument, NULL, 't'},
                {"freeze-timeout", required_argument, NULL, 'f'},
                {"thaw-timeout", required_argument, NULL, 'w'},
                {"json", no_argument, NULL, 'J'},
                CLI_COMMON_LONGOPTS,
                {NULL, 0, NULL, 0},
        };
        struct writer W = {.cli = cli,
                           .name = "quiesce-writer",
                           .timeout_ms = {WRITER_PREPARE_DEFAULT_MS, WRITER_FREEZE_DEFAULT_MS,
                                          WRITER_THAW_DEFAULT_MS, WRITER_THAW_DEFAULT_MS}};
        int opt;
        while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "n:rt:J", longopts, NULL)) != -1) {
                switch (opt) {
                case 'n':
                        W.name = optarg;
                        break;
                case 'P':
                        W.cmd[QZ_WRITER_PREPARE] = optarg;
                        break;
                case 'F':
                        W.cmd[QZ_WRITER_FREEZE] = optarg;
                        break;
                case 'T':
                        W.cmd[QZ_WRITER_THAW] = optarg;
                        break;
                case 'A':
                        W.cmd[QZ_WRITER_ABORT] = optarg;
                        break;
                case 'S':
                        W.session = optarg;
                        break;
                case 'r':
                        W.required = true;
                        break;
                case 'J':
                        W.json = true;
                        break;
                case 't':
                        if (parse_ms("--timeout", optarg, &W.timeout_ms[QZ_WRITER_PREPARE]) < 0)
                                return EXIT_USAGE;
                        break;
                case 'f':
                        if (parse_ms("--freeze-timeout", optarg, &W.timeout_ms[QZ_WRITER_FREEZE]) < 0)
                                return EXIT_USAGE;
                        break;
                case 'w':
                        if (parse_ms("--thaw-timeout", optarg, &W.timeout_ms[QZ_WRITER_THAW]) < 0)
                                return EXIT_USAGE;
                        W.timeout_ms[QZ_WRITER_ABORT] = W.timeout_ms[QZ_WRITER_THAW];
                        break;
                default: {
                        int r = cli_common_option(cli, "writer", opt, argv);
                        if (r >= 0)
                                return r;
                }
                }
        }
        W.paths = argv + optind;
        W.n_paths = (size_t)(argc - optind);
        if (W.n_paths == 0)
                return cli_usage_error("writer: no path given");
        W.paths_joined = cli_join(W.paths, W.n_paths, ",");
        int ret = EXIT_FAILURE;
        /* Every template is checked before anything runs. */
        for (unsigned k = 0; k < 4; k++) {
                char **a = W.cmd[k] ? make_argv(&W, phase_opt[k], W.cmd[k], "x", "1") : NULL;
                if (W.cmd[k] && !a) {
                        free(W.paths_joined);
                        return EXIT_USAGE;
                }
                qz_strv_free(a);
        }
        char **session_argv = W.session ? make_argv(&W, "--session", W.session, NULL, NULL) : NULL;
        if (W.session && !session_argv) {
                free(W.paths_joined);
                return EXIT_USAGE;
        }
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, &W.old_mask);
        signal(SIGPIPE, SIG_IGN); /* a dead helper's pipe answers EPIPE */
        int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
        wsession_init(&W.s, session_argv, &W.old_mask);
        if (sigfd < 0) {
                cli_error("writer: cannot set up signal handling: %s", strerror(errno));
                goto out;
        }
        if (W.session) {
                _cleanup_free_ char *error = NULL;
                W.have_session = true;
                if (wsession_start(&W.s, qz_now() + (usec_t)W.timeout_ms[QZ_WRITER_PREPARE] * 1000, &error) <
                    0) {
                        cli_error("writer %s: %s", W.name, error);
                        goto out;
                }
        }
        if (do_register(&W, true) < 0)
                goto out;
        int r = loop(&W, sigfd);
        ret = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if ((W.w && qz_writer_frozen(W.w)) || (W.have_session && W.s.frozen)) {
                /* Leaving in the middle of a freeze: release what we hold first
                 * (quiesced is not asked: it thaws without us). */
                qz_writer_event ev = {.phase = QZ_WRITER_THAW, .daemon_gone = 1};
                on_event(NULL, &ev, &W);
        }
out:
        qz_writer_close(W.w);
        if (W.have_session)
                wsession_stop(&W.s, SESSION_STOP_GRACE_USEC);
        qz_strv_free(session_argv);
        if (sigfd >= 0)
                close(sigfd);
        sigprocmask(SIG_SETMASK, &W.old_mask, NULL);
        free(W.paths_joined);
        return ret;
}
