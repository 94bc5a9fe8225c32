/* SPDX-License-Identifier: GPL-2.0-or-later */
/* demo.h - quiesce-demo, the end-to-end demonstration kept out of the product
 * (src/demo/): its shared state and the parts it is made of. demo.c runs the
 * acts and prints the report; stage.c makes the images, loops, mounts and the
 * private quiesced and runs commands; writer.c writes files of known content;
 * verify.c proves the archive holds them (SHA-256); job.c shows a backup
 * job (a job file, two runs, a prune, a check); output.c speaks.
 * Everything it makes is registered with the backup's cleanup registry and
 * undone on every way out; it thaws only through quiesced.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "quiesce.h"

#define DEMO_POOL_SIZE (320ULL << 20) /* xfsprogs refuses XFS under 300 MiB */
#define DEMO_DATA_SIZE (192ULL << 20)
#define DEMO_MAX_HOLDS 4
#define DEMO_COMMAND_TIMEOUT (120 * USEC_PER_SEC) /* mkfs, quiesce snapshot, backup, e2fsck */

struct demo {
        bool tty, use_running;
        char *quiesce;  /* the quiesce command beside this program */
        char *quiesced; /* the daemon, when we start our own */
        char *tmp;      /* /tmp/quiesce-demo.XXXXXX */
        char *pool, *pool_img, *data, *data_img, *store, *hooks, *sock, *archive;
        char pool_dev[32], data_dev[32]; /* /dev/loopN */
        const char *socket;              /* the socket used (ours or the running daemon's) */
        qz_client *c;
        uint64_t holds[DEMO_MAX_HOLDS]; /* holds of act 1 not yet thawed, 0 = free slot */
        int64_t t0;
};

extern struct demo D;

/* ---- output.c ---- */
void demo_act(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void demo_indent(const char *text);
/* Prints "quiesce-demo: ..." on stderr; returns -1. */
int demo_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void demo_sleep_ms(long ms); /* cut short by an interruption */

/* ---- stage.c ---- */
/* Runs argv with stdout+stderr into *out (malloc'd; out may be NULL),
 * showing the command line when show. The exit status, or -errno. */
int demo_run(char *const *argv, char **out, bool show);
int demo_run_ok(char *const *argv, bool show); /* 0, or -1 with the output shown */
int demo_make_image(const char *path, uint64_t size);
int demo_attach_and_mount(const char *img, const char *dir, const char *fstype, char *dev, size_t devlen);
/* The program NAME beside this one (build tree or installed), or in the
 * usual places; malloc'd, NULL if not found. */
char *demo_find_program(const char *name, const char *build_subdir);
int demo_start_daemon(const char *max_frozen);

/* ---- writer.c ---- */
struct demo_writer {
        pid_t pid;
        int ack;
        char buf[64];
        size_t len;
        long acked; /* highest acknowledged index, -1 none */
};
/* Starts the writer of DIR/w/NNNNN.dat: write, fsync file and directory,
 * acknowledge the index. */
int demo_writer_start(struct demo_writer *w, const char *dir);
void demo_writer_drain(struct demo_writer *w); /* reads every acknowledgement that arrived */
void demo_writer_stop(struct demo_writer *w);
/* A one-file writer (create, write, fsync); its pid, or -1. */
pid_t demo_probe_spawn(const char *path);
bool demo_blocked_on_freeze(pid_t pid);
bool demo_wait_done(pid_t pid, long ms); /* true: finished within ms */
/* The SHA-256 (hex) the writer's file INDEX has, from the index alone. */
void demo_file_sha(unsigned index, char hex[65]);

/* ---- job.c ---- */
/* Act 7: a job file, two `quiesce job run`, a prune, `quiesce check`. 0 or -1. */
int demo_act_job(void);

/* ---- verify.c ---- */
struct demo_verify {
        long acked;           /* files acknowledged before the freeze: 0..acked */
        unsigned in_archive;  /* w/ files in the archive */
        unsigned acked_ok;    /* of 0..acked: present with the right SHA-256 */
        unsigned acked_bad;   /* present with another content */
        unsigned later_ok;    /* beyond acked, in the archive and complete */
        unsigned later_other; /* beyond acked, partial (written as the freeze came) */
};
/* Reads the archive at PATH and counts the writer's files in it. 0 or -1. */
int demo_verify_archive(const char *path, struct demo_verify *v);
/* SHA-256 of a buffer, as 64 hex digits. */
void demo_sha256_hex(const void *data, size_t n, char hex[65]);
