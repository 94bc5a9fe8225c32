/* SPDX-License-Identifier: GPL-2.0-or-later */
/* main.c - quiesced's start-up and shutdown: options, the guard (forked
 * first, before any thread), locked memory, the event loop with its one
 * deadline timer, signals, socket activation and readiness, and a shutdown
 * that thaws everything before it exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "caps.h"
#include "confirm.h"
#include "daemon.h"
#include "glue.h"
#include "guard.h"
#include "log.h"
#include "ms.h"
#include "quiesce.h"
#include "server.h"

#define SHUTDOWN_GRACE_USEC (10 * 1000000ULL)

static void usage(FILE *out) {
        fputs("Usage:\n"
              " quiesced [options]\n"
              "\n"
              "Own every filesystem freeze of this machine: reference-counted, time-limited\n"
              "FIFREEZE/FITHAW on behalf of quiesce and libquiesce clients.\n"
              "\n"
              "Options:\n"
              " -s, --socket PATH         listen on PATH (default " QZ_DEFAULT_SOCKET ")\n"
              " -g, --group NAME          also allow members of group NAME (root always may)\n"
              " -m, --max-frozen DURATION force-thaw any filesystem frozen longer (default 60s;\n"
              "                           'none' disables the ceiling)\n"
              "     --max-connections-per-uid N\n"
              "                           connections one uid may have open (default 64; 0: no\n"
              "                           limit); root is not limited\n"
              "     --max-holds-per-uid N holds one uid may have (default 64; 0: no limit); root\n"
              "                           is not limited\n"
              "     --max-writers-per-uid N\n"
              "                           writers one uid may register (default 16; 0: no\n"
              "                           limit); root is not limited\n"
              "     --max-writer-delay DURATION\n"
              "                           how long one writer of a uid other than root may hold\n"
              "                           up a freeze: its prepare plus freeze timeouts (default\n"
              "                           5min; 'none': 11min, the protocol's own bound)\n"
              "     --no-throttle         flush before a freeze without slowing the writers\n"
              "                           (no bdi strict_limit/max_bytes during the pre-flush)\n"
              "     --probe-interval DURATION\n"
              "                           check every frozen filesystem's freeze this often\n"
              "                           (default 100ms; 'none': only when a request asks)\n"
              " -l, --log-level LEVEL     err, warning, notice, info (default) or debug\n"
              " -h, --help                display this help\n"
              " -V, --version             display version\n"
              "\n"
              "For more details see quiesced(8).\n",
              out);
}

static void rearm_timer(qz_daemon *d) {
        usec_t next = qz_holds_next_deadline(d->holds);
        d->next_deadline = next;
        if (next == QZ_USEC_INFINITY) {
                sd_event_source_set_enabled(d->timer_src, SD_EVENT_OFF);
                return;
        }
        sd_event_source_set_time(d->timer_src, next);
        sd_event_source_set_enabled(d->timer_src, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        (void)usec;
        qz_holds_expire(d->holds, qz_now());
        return 0;
}

/* After every dispatched event: re-aim the deadline timer, and finish a shutdown. */
static int on_post(sd_event_source *s, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        rearm_timer(d);
        if (d->shutting_down) {
                bool settled = !qz_holds_busy(d->holds) && qz_freezer_inflight(d->freezer) == 0;
                if (settled || qz_now() - d->shutdown_started > SHUTDOWN_GRACE_USEC)
                        sd_event_exit(d->event, settled ? 0 : 1);
        }
        return 0;
}

static int on_shutdown_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        (void)s;
        (void)usec;
        (void)userdata;
        return 0; /* wakes the loop so on_post can check the grace period */
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        if (d->shutting_down)
                return 0;
        log_notice("signal %u: thawing everything and exiting", si->ssi_signo);
        sd_notify(0, "STOPPING=1");
        d->shutting_down = true;
        d->shutdown_started = qz_now();
        sd_event_source_set_enabled(d->listen_src, SD_EVENT_OFF);
        qz_server_close_all(d);
        qz_holds_release_all(d->holds, QZ_GONE_STOPPING, qz_now());
        sd_event_add_time_relative(d->event, NULL, CLOCK_BOOTTIME, 100000, 0, on_shutdown_tick, d);
        sd_event_add_time_relative(d->event, NULL, CLOCK_BOOTTIME, SHUTDOWN_GRACE_USEC + 100000, 0,
                                   on_shutdown_tick, d);
        return 0;
}

static int on_guard(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        (void)revents;
        dev_t key;
        int r;
        while ((r = qz_guard_read_report(fd, &key)) > 0) {
                qz_fs *fs = qz_holds_find_fs(d->holds, key);
                log_error("the guard thawed %s at its hard deadline: quiesced did not thaw it in time",
                          fs ? fs->mountpoint : "a filesystem");
                if (fs && fs->state == QZ_FS_FROZEN) {
                        qz_freezer_abandon(d->freezer, fs);
                        qz_holds_thawed_externally(d->holds, fs, qz_now());
                        qz_phases_fs_thawed(d, fs, "the guard thawed it");
                        qz_confirm_settle(d, fs);
                }
        }
        if (r < 0) {
                /* Without the guard nothing protects a freeze from our death: stop
                 * freezing, thaw, and exit so the service manager restarts us whole. */
                log_error("the guard process died (%s); thawing everything and exiting", strerror(-r));
                sd_event_source_set_enabled(d->guard_src, SD_EVENT_OFF);
                raise(SIGTERM);
        }
        return 0;
}

static int on_mounts_changed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_daemon *d = userdata;
        (void)s;
        (void)fd;
        (void)revents;
        qz_mounts_invalidate(d->mounts);
        return 0;
}

static char *dir_of(const char *path) {
        char *copy = strdup(path);
        if (!copy)
                return NULL;
        char *dir = strdup(dirname(copy));
        free(copy);
        return dir;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                {"socket", required_argument, NULL, 's'},
                {"group", required_argument, NULL, 'g'},
                {"max-frozen", required_argument, NULL, 'm'},
                {"log-level", required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {"max-connections-per-uid", required_argument, NULL, 'C'},
                {"max-holds-per-uid", required_argument, NULL, 'H'},
                {"no-throttle", no_argument, NULL, 'T'},
                {"max-writers-per-uid", required_argument, NULL, 'W'},
                {"max-writer-delay", required_argument, NULL, 'D'},
                {"probe-interval", required_argument, NULL, 'P'},
                {NULL, 0, NULL, 0},
        };
        qz_daemon d = {.next_deadline = QZ_USEC_INFINITY,
                       .guard_sock = -1,
                       .listen_fd = -1,
                       .max_conns_per_uid = QZ_DEFAULT_MAX_CONNS_PER_UID,
                       .max_holds_per_uid = QZ_DEFAULT_MAX_HOLDS_PER_UID,
                       .writers = {.max_per_uid = QZ_DEFAULT_MAX_WRITERS_PER_UID,
                                   .max_delay = QZ_DEFAULT_MAX_WRITER_DELAY_MS * USEC_PER_MSEC}};
        const char *socket_path = getenv(QZ_SOCKET_ENV) ? getenv(QZ_SOCKET_ENV) : QZ_DEFAULT_SOCKET;
        int level = LOG_INFO, c;
        bool throttle = true;
        int64_t max_frozen_ms = 60000, probe_interval_ms = QZ_DEFAULT_PROBE_INTERVAL_MS; /* as given */
        while ((c = getopt_long(argc, argv, "s:g:m:l:hV", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'g': {
                        struct group *gr = getgrnam(optarg);
                        if (!gr) {
                                fprintf(stderr, "quiesced: %s: no such group\n", optarg);
                                return 1;
                        }
                        d.have_group = true;
                        d.group = gr->gr_gid;
                        break;
                }
                case 'm':
                        if (qz_parse_duration(optarg, &max_frozen_ms) < 0 || max_frozen_ms == 0) {
                                fprintf(stderr,
                                        "quiesced: invalid --max-frozen '%s' (e.g. 500ms, 30s, 2m, none)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'C':
                case 'H':
                case 'W': {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || v > 1000000) {
                                fprintf(stderr, "quiesced: invalid --%s '%s' (a number; 0 for no limit)\n",
                                        c == 'C'   ? "max-connections-per-uid"
                                        : c == 'H' ? "max-holds-per-uid"
                                                   : "max-writers-per-uid",
                                        optarg);
                                return 2;
                        }
                        if (c == 'C')
                                d.max_conns_per_uid = (unsigned)v;
                        else if (c == 'H')
                                d.max_holds_per_uid = (unsigned)v;
                        else
                                d.writers.max_per_uid = (unsigned)v;
                        break;
                }
                case 'D': {
                        int64_t ms;
                        if (qz_parse_duration(optarg, &ms) < 0 || ms == 0) {
                                fprintf(stderr,
                                        "quiesced: invalid --max-writer-delay '%s' (e.g. 30s, 5min, none)\n",
                                        optarg);
                                return 2;
                        }
                        d.writers.max_delay = ms == QZ_NO_DEADLINE ? 0 : (usec_t)ms * USEC_PER_MSEC;
                        break;
                }
                case 'T':
                        throttle = false;
                        break;
                case 'P':
                        if (qz_parse_duration(optarg, &probe_interval_ms) < 0 || probe_interval_ms == 0 ||
                            probe_interval_ms > 60000) {
                                fprintf(stderr,
                                        "quiesced: invalid --probe-interval '%s' (e.g. 50ms, 100ms, 1s; at "
                                        "most "
                                        "1m; or none)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'l':
                        level = qz_log_level_from_string(optarg);
                        if (level < 0) {
                                fprintf(stderr, "quiesced: invalid --log-level '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("quiesced from quiesce %s\n", QZ_VERSION_STRING);
                        return 0;
                default:
                        fprintf(stderr, "Try 'quiesced --help' for more information.\n");
                        return 2;
                }
        }
        d.max_frozen = qz_usec_from_ms(max_frozen_ms);
        d.probe_interval = qz_usec_from_ms(probe_interval_ms);
        if (optind < argc) {
                fprintf(stderr,
                        "quiesced: unexpected argument '%s'\nTry 'quiesced --help' for more information.\n",
                        argv[optind]);
                return 2;
        }
        if (geteuid() != 0)
                fprintf(stderr, "quiesced: warning: not running as root; FIFREEZE will fail with EPERM\n");

        /* Hold no directory of a filesystem we may freeze or someone may unmount. */
        if (chdir("/") < 0)
                return 1;
        /* Locked memory by limit rather than by CAP_IPC_LOCK, which then goes. */
        bool memlock_unlimited = qz_caps_unlimit_memlock();
        /* The guard first: a process with nothing of ours but one socket. */
        d.guard_sock = qz_guard_start();
        if (d.guard_sock < 0) {
                fprintf(stderr, "quiesced: cannot start the guard process: %s\n", strerror(-d.guard_sock));
                return 1;
        }
        /* Least privilege, before any thread exists (capabilities are per
         * thread): FIFREEZE/FITHAW need CAP_SYS_ADMIN; opening a client's path,
         * or re-opening a descriptor it passed, in directories and files root
         * does not own needs CAP_DAC_READ_SEARCH. Nothing else is used. */
        {
                uint64_t keep = QZ_CAP(CAP_SYS_ADMIN) | QZ_CAP(CAP_DAC_READ_SEARCH) |
                                (memlock_unlimited ? 0 : QZ_CAP(CAP_IPC_LOCK));
                char why[256];
                int cr = qz_caps_drop(keep, why, sizeof(why));
                if (cr < 0) {
                        fprintf(stderr, "quiesced: cannot drop capabilities: %s\n", why);
                        return 1;
                }
                d.caps_kept = qz_caps_effective();
        }
        /* Block the signals sd-event handles before any thread exists, or a
         * thread would take SIGTERM with its default action. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        /* One malloc arena: the keeper and prober threads allocate a report
         * now and then, and an arena of their own each would stay resident
         * (and locked) for nothing. */
        mallopt(M_ARENA_MAX, 1);
        qz_log_init(level);
        /* Lock every page we touch, as we touch it (MCL_ONFAULT): nothing of ours
         * is ever swapped out, and untouched library pages cost no memory. A
         * page first needed while a filesystem is frozen is only read, and
         * reads work on a frozen filesystem. */
        if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
                log_warning("mlockall: %s (pages may need to be read back while a filesystem is frozen)",
                            strerror(errno));

        int r = 1;
        d.socket_path = strdup(socket_path);
        d.runtime_dir = d.socket_path ? dir_of(d.socket_path) : NULL;
        d.mounts = qz_mounts_new();
        if (!d.runtime_dir || !d.mounts || sd_event_new(&d.event) < 0) {
                log_error("out of memory");
                goto out;
        }
        d.holds = qz_holds_new(&qz_daemon_holds_ops, &d, d.max_frozen, QZ_MAX_HOLDS);
        d.freezer = qz_freezer_new(d.event, d.guard_sock, d.max_frozen, throttle, d.runtime_dir,
                                   d.probe_interval, qz_daemon_freeze_done, &d);
        if (!d.holds || !d.freezer)
                goto out;

        sd_event_add_signal(d.event, NULL, SIGTERM, on_signal, &d);
        sd_event_add_signal(d.event, NULL, SIGINT, on_signal, &d);
        sd_event_add_signal(d.event, NULL, SIGHUP, on_signal, &d);

        if (sd_event_add_time(d.event, &d.timer_src, CLOCK_BOOTTIME, UINT64_MAX, 1000, on_timer, &d) < 0 ||
            sd_event_add_post(d.event, &d.post_src, on_post, &d) < 0 ||
            sd_event_add_io(d.event, &d.guard_src, d.guard_sock, EPOLLIN, on_guard, &d) < 0)
                goto out;
        sd_event_source_set_enabled(d.timer_src, SD_EVENT_OFF);
        /* Deadlines and mount changes before client requests in the same wake-up. */
        sd_event_source_set_priority(d.timer_src, SD_EVENT_PRIORITY_IMPORTANT);
        if (qz_mounts_change_fd(d.mounts) >= 0 &&
            sd_event_add_io(d.event, &d.mounts_src, qz_mounts_change_fd(d.mounts), EPOLLPRI,
                            on_mounts_changed, &d) >= 0)
                sd_event_source_set_priority(d.mounts_src, SD_EVENT_PRIORITY_IMPORTANT - 1);

        if (qz_server_listen(&d) < 0)
                goto out;
        /* The filesystem of our runtime directory is never frozen: we live there. */
        {
                int fd = open(d.runtime_dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
                qz_mount_info info;
                if (fd < 0 || qz_mounts_identify_fd(d.mounts, fd, &info) < 0) {
                        log_error("%s: cannot identify the runtime directory's filesystem", d.runtime_dir);
                        if (fd >= 0)
                                close(fd);
                        goto out;
                }
                d.runtime_devno = info.devno;
                log_info("runtime directory %s is on %s %s (mounted at %s): it will not be frozen",
                         d.runtime_dir, info.fstype, info.id, info.mountpoint);
                close(fd);
        }
        {
                char caps[256];
                log_info("capabilities: %s; every other one dropped (also from the bounding set)",
                         qz_caps_format(d.caps_kept, caps, sizeof(caps)));
                if (!(d.caps_kept & QZ_CAP(CAP_SYS_ADMIN)))
                        log_warning("no CAP_SYS_ADMIN: every FIFREEZE will fail with EPERM");
        }
        char ceiling[32], probe[32];
        log_info("quiesced %s ready (pid %d, max-frozen %s, probe interval %s)", QZ_VERSION_STRING,
                 (int)getpid(), qz_format_duration(max_frozen_ms, ceiling, sizeof(ceiling)),
                 qz_format_duration(probe_interval_ms, probe, sizeof(probe)));
        sd_notifyf(0, "READY=1\nSTATUS=Ready; max-frozen %s\nMAINPID=%d", ceiling, (int)getpid());

        r = sd_event_loop(d.event);
        if (r != 0)
                log_error("exiting with filesystems still frozen or thawing; the guard thaws them");
out:
        if (d.listen_fd >= 0 && sd_listen_fds(0) == 0 && d.socket_path)
                unlink(d.socket_path);
        if (d.freezer && qz_freezer_inflight(d.freezer) > 0) {
                /* A worker is stuck in the kernel: exit without freeing what it
                 * uses; the guard sees us go and thaws what we froze. */
                qz_log_shutdown();
                _exit(1);
        }
        qz_server_close_all(&d);
        qz_phases_free_all(&d);
        qz_writers_done(&d.writers);
        qz_freezer_free(d.freezer);
        sd_event_source_unref(d.timer_src);
        sd_event_source_unref(d.post_src);
        sd_event_source_unref(d.guard_src);
        sd_event_source_unref(d.mounts_src);
        sd_event_source_unref(d.listen_src);
        sd_event_unref(d.event);
        qz_holds_free(d.holds);
        qz_mounts_free(d.mounts);
        free(d.socket_path);
        free(d.runtime_dir);
        qz_log_shutdown();
        /* Our end of the guard's socket closes with us; it exits (thawing anything left). */
        return r == 0 ? 0 : 1;
}
