/* freezer.c - worker threads for the ioctls (see freezer.h). A freeze
 * flushes with syncfs() first, its bdi throttled (throttle.h), so FIFREEZE
 * has little left to write and the writers are slowed rather than stalled;
 * it arms the guard before the ioctl (so no freeze can outlive the daemon),
 * and disarms it if the ioctl failed; a thaw disarms after FITHAW. A
 * pre-flush job is the first half alone, for the later members of a group.
 */
#include "freezer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "throttle.h"

#define WORKER_STACK (128 * 1024)
#define GUARD_GRACE_USEC (5 * 1000000ULL) /* the daemon's own ceiling fires first */

typedef enum { JOB_FREEZE, JOB_THAW, JOB_PREFLUSH } job_kind;

typedef struct job {
        qz_freezer *f;
        qz_fs *fs;
        int fd; /* a pre-flush owns its own (a dup) */
        dev_t devno;
        job_kind kind;
        bool freeze;
        bool joinable; /* the loop joins its thread when it is done */
        pthread_t tid;
        char fstype[32];
        int err;
        char dm_name[128]; /* a suspended device-mapper device under the filesystem */
        usec_t start, end;
        usec_t preflush_usec;
        bool throttled;
        struct job *next;
} job;

struct qz_freezer {
        sd_event_source *src;
        int efd;
        int guard_sock;
        qz_throttle *throttle;
        int64_t max_frozen_ms;
        qz_freezer_done_fn done;
        void *ud;
        pthread_mutex_t lock;
        job *finished; /* LIFO of completed jobs, reversed on drain */
        atomic_uint inflight;
        atomic_ullong fifreeze_calls, fithaw_calls;
};

usec_t qz_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (usec_t)ts.tv_sec * 1000000 + (usec_t)ts.tv_nsec / 1000;
}

/* Hands a done job to the event loop (from any thread). */
static void job_finished(job *j) {
        qz_freezer *f = j->f;
        pthread_mutex_lock(&f->lock);
        j->next = f->finished;
        f->finished = j;
        pthread_mutex_unlock(&f->lock);
        uint64_t one = 1;
        if (write(f->efd, &one, sizeof(one)) < 0)
                log_error("freezer: cannot wake the event loop: %s", strerror(errno));
}

/* True when block device devno, or one below it (its slaves, recursively),
 * is a suspended device-mapper device; its name goes to name. */
static bool dm_suspended(unsigned maj, unsigned min, char *name, size_t size, int depth) {
        char path[256], buf[64];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/suspended", maj, min);
        FILE *fp = fopen(path, "re");
        if (fp) {
                bool suspended = fgets(buf, sizeof(buf), fp) && buf[0] == '1';
                fclose(fp);
                if (suspended) {
                        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name", maj, min);
                        fp = fopen(path, "re");
                        if (!fp || !fgets(name, (int)size, fp))
                                snprintf(name, size, "dm %u:%u", maj, min);
                        else
                                name[strcspn(name, "\n")] = '\0';
                        if (fp)
                                fclose(fp);
                        return true;
                }
        }
        if (depth >= 8)
                return false;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/slaves", maj, min);
        DIR *dir = opendir(path);
        if (!dir)
                return false;
        bool found = false;
        for (struct dirent *de; !found && (de = readdir(dir));) {
                if (de->d_name[0] == '.')
                        continue;
                char devfile[640];
                unsigned smaj, smin;
                snprintf(devfile, sizeof(devfile), "%s/%s/dev", path, de->d_name);
                FILE *df = fopen(devfile, "re");
                if (!df)
                        continue;
                if (fscanf(df, "%u:%u", &smaj, &smin) == 2)
                        found = dm_suspended(smaj, smin, name, size, depth + 1);
                fclose(df);
        }
        closedir(dir);
        return found;
}

/* syncfs with the filesystem's bdi throttled; returns the throttle, still
 * on, for the caller to end (after FIFREEZE: the writers stay slowed until
 * they block on the freeze). */
static qz_throttle_bdi *preflush(job *j) {
        char bdi[64];
        qz_throttle_bdi *b = NULL;
        if (qz_bdi_name(j->fd, j->fstype, j->devno, bdi, sizeof(bdi)) == 0)
                b = qz_throttle_begin(j->f->throttle, bdi);
        (void)syncfs(j->fd);
        return b;
}

static void *worker(void *arg) {
        job *j = arg;
        qz_freezer *f = j->f;
        int unused = 0; /* FIFREEZE/FITHAW are declared _IOWR(int); the kernel ignores it */
        if (j->kind == JOB_PREFLUSH) {
                qz_throttle_end(f->throttle, preflush(j));
                close(j->fd);
                j->fd = -1;
                job_finished(j); /* only for the join: nothing to tell the state machine */
                return NULL;
        }
        if (j->freeze && dm_suspended(major(j->devno), minor(j->devno), j->dm_name, sizeof(j->dm_name), 0)) {
                /* device-mapper holds this freeze (dmsetup suspend): our syncfs
                 * would block until the resume, and the freeze is not ours to
                 * take or release. Touch nothing, answer EBUSY. */
                j->err = EBUSY;
                j->start = j->end = qz_now();
        } else if (j->freeze) {
                /* Pre-flush while writers still run, so the freeze itself is short. */
                usec_t t0 = qz_now();
                qz_throttle_bdi *throttled = preflush(j);
                j->preflush_usec = qz_now() - t0;
                j->throttled = throttled != NULL;
                usec_t hard = f->max_frozen_ms < 0
                                      ? UINT64_MAX
                                      : qz_now() + (usec_t)f->max_frozen_ms * 1000 + GUARD_GRACE_USEC;
                int r = qz_guard_arm(f->guard_sock, j->devno, j->fd, hard);
                if (r < 0) {
                        j->err = ENOLINK; /* no guard, no freeze */
                        j->start = j->end = qz_now();
                } else {
                        j->start = qz_now();
                        atomic_fetch_add(&f->fifreeze_calls, 1);
                        r = ioctl(j->fd, FIFREEZE, &unused);
                        j->err = r < 0 ? errno : 0;
                        j->end = qz_now();
                        if (r < 0)
                                (void)qz_guard_disarm(f->guard_sock, j->devno);
                }
                qz_throttle_end(f->throttle, throttled);
        } else {
                j->start = qz_now();
                atomic_fetch_add(&f->fithaw_calls, 1);
                int r = ioctl(j->fd, FITHAW, &unused);
                j->err = r < 0 ? errno : 0;
                j->end = qz_now();
                (void)qz_guard_disarm(f->guard_sock, j->devno);
        }
        job_finished(j);
        return NULL;
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        qz_freezer *f = userdata;
        uint64_t v;
        (void)s;
        (void)revents;
        if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_error("freezer: eventfd read: %s", strerror(errno));
        pthread_mutex_lock(&f->lock);
        job *list = f->finished;
        f->finished = NULL;
        pthread_mutex_unlock(&f->lock);
        job *rev = NULL;
        while (list) {
                job *n = list->next;
                list->next = rev;
                rev = list;
                list = n;
        }
        while (rev) {
                job *n = rev->next;
                /* The thread has nothing left but to return: join it, so no
                 * worker outlives the count (and quiesced's exit) by a moment. */
                if (rev->joinable)
                        pthread_join(rev->tid, NULL);
                atomic_fetch_sub(&f->inflight, 1);
                if (rev->kind != JOB_PREFLUSH) {
                        qz_freeze_result r = {.freeze = rev->freeze,
                                              .err = rev->err,
                                              .detail = rev->dm_name,
                                              .start = rev->start,
                                              .end = rev->end,
                                              .preflush_usec = rev->preflush_usec,
                                              .throttled = rev->throttled};
                        f->done(f->ud, rev->fs, &r);
                }
                free(rev);
                rev = n;
        }
        return 0;
}

qz_freezer *qz_freezer_new(sd_event *e, int guard_sock, int64_t max_frozen_ms, bool throttle,
                           const char *state_dir, qz_freezer_done_fn done, void *ud) {
        qz_freezer *f = calloc(1, sizeof(*f));
        if (!f)
                return NULL;
        pthread_mutex_init(&f->lock, NULL);
        f->guard_sock = guard_sock;
        f->throttle = qz_throttle_new(guard_sock, throttle, state_dir);
        f->max_frozen_ms = max_frozen_ms;
        f->done = done;
        f->ud = ud;
        f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!f->throttle || f->efd < 0 || sd_event_add_io(e, &f->src, f->efd, EPOLLIN, on_finished, f) < 0) {
                qz_freezer_free(f);
                return NULL;
        }
        /* Completions before new requests: a thaw result is never queued behind clients. */
        sd_event_source_set_priority(f->src, SD_EVENT_PRIORITY_IMPORTANT);
        return f;
}

void qz_freezer_free(qz_freezer *f) {
        if (!f)
                return;
        sd_event_source_unref(f->src);
        qz_throttle_free(f->throttle);
        if (f->efd >= 0)
                close(f->efd);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

/* Starts j's thread, joinable: the loop joins it when j comes back (it is
 * called from the loop, so j->tid is set before the loop can see j done). */
static int spawn(job *j) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        atomic_fetch_add(&j->f->inflight, 1);
        j->joinable = true;
        int r = pthread_create(&j->tid, &attr, worker, j);
        pthread_attr_destroy(&attr);
        if (r != 0)
                j->joinable = false;
        return r;
}

static job *job_new(qz_freezer *f, qz_fs *fs, job_kind kind) {
        job *j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->f = f;
        j->fs = fs;
        j->fd = fs->ioctl_fd;
        j->devno = fs->devno;
        j->kind = kind;
        j->freeze = kind != JOB_THAW;
        snprintf(j->fstype, sizeof(j->fstype), "%s", fs->fstype ? fs->fstype : "");
        return j;
}

int qz_freezer_preflush(qz_freezer *f, qz_fs *fs) {
        job *j = job_new(f, fs, JOB_PREFLUSH);
        if (!j)
                return -ENOMEM;
        j->fd = fcntl(fs->ioctl_fd, F_DUPFD_CLOEXEC, 3); /* fs may close its own before we are done */
        if (j->fd < 0) {
                int e = errno;
                free(j);
                return -e;
        }
        int r = spawn(j);
        if (r != 0) {
                atomic_fetch_sub(&f->inflight, 1);
                close(j->fd);
                free(j);
                return -r;
        }
        return 0;
}

int qz_freezer_start(qz_freezer *f, qz_fs *fs, bool freeze) {
        job *j = job_new(f, fs, freeze ? JOB_FREEZE : JOB_THAW);
        if (!j)
                return -ENOMEM;
        int r = spawn(j);
        if (r != 0) {
                /* No thread: complete with the error through the loop like any job,
                 * so the state machine never sees a re-entrant completion. */
                j->err = r;
                j->start = j->end = qz_now();
                job_finished(j);
        }
        return 0;
}

unsigned qz_freezer_inflight(qz_freezer *f) {
        return atomic_load(&f->inflight);
}

uint64_t qz_freezer_fifreeze_calls(qz_freezer *f) {
        return atomic_load(&f->fifreeze_calls);
}

uint64_t qz_freezer_fithaw_calls(qz_freezer *f) {
        return atomic_load(&f->fithaw_calls);
}
