/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writer.c - libquiesce's writer API (quiesce.h, "Writers"): a connection
 * registered with RegisterWriter, the events quiesced sends on it read
 * without blocking and handed to the phase's callback, the answers sent
 * back, and the thaw a writer owes itself when quiesced goes away.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client-internal.h"
#include "jsonutil.h"
#include "protocol.h"

struct qz_writer {
        qz_client *c;
        uint64_t id;
        qz_writer_callbacks cb;
        void *userdata;
        uint64_t prepared; /* got prepare, neither freeze nor abort yet; 0 none */
        uint64_t frozen;   /* got freeze, no thaw yet; 0 none */
};

static __thread char open_error[1024];

static const char *const phase_names[] = {
        [QZ_WRITER_PREPARE] = QZ_PROTO_PHASE_PREPARE,
        [QZ_WRITER_FREEZE] = QZ_PROTO_PHASE_FREEZE,
        [QZ_WRITER_THAW] = QZ_PROTO_PHASE_THAW,
        [QZ_WRITER_ABORT] = QZ_PROTO_PHASE_ABORT,
};

const char *qz_writer_phase_name(qz_writer_phase p) {
        return (unsigned)p <= QZ_WRITER_ABORT ? phase_names[p] : "?";
}

const char *qz_writer_error(const qz_writer *w) {
        return w ? qz_client_error(w->c) : open_error;
}

int qz_writer_fd(const qz_writer *w) {
        return w ? qz_client_fd(w->c) : -EINVAL;
}

uint64_t qz_writer_id(const qz_writer *w) {
        return w ? w->id : 0;
}

int qz_writer_frozen(const qz_writer *w) {
        return w && w->frozen != 0;
}

void qz_writer_close(qz_writer *w) {
        if (!w)
                return;
        qz_client_close(w->c);
        free(w);
}

static void add_timeout(json_object *p, const char *key, int64_t ms) {
        if (ms > 0)
                json_object_object_add(p, key, json_object_new_int64(ms));
}

int qz_writer_open(const qz_writer_options *o, const char *const *paths, size_t n_paths,
                   const qz_writer_callbacks *cb, void *userdata, qz_writer **ret) {
        if (!ret || !o || !o->name || !*o->name) {
                snprintf(open_error, sizeof(open_error), "a writer needs a name");
                return -EINVAL;
        }
        *ret = NULL;
        qz_client *c;
        int r = qz_client_open(o->socket_path, &c);
        if (r < 0) {
                snprintf(open_error, sizeof(open_error), "%s", qz_client_error(NULL));
                return r;
        }
        qz_targets t;
        r = qz_client_open_targets(c, paths, n_paths, &t);
        if (r < 0) {
                snprintf(open_error, sizeof(open_error), "writer %s: %s", o->name, qz_client_error(c));
                qz_client_close(c);
                return r;
        }
        json_object *p = qz_client_target_params(&t);
        json_object_object_add(p, "name", json_object_new_string(o->name));
        if (o->required)
                json_object_object_add(p, "required", json_object_new_boolean(1));
        add_timeout(p, "prepare_timeout_ms", o->prepare_timeout_ms);
        add_timeout(p, "freeze_timeout_ms", o->freeze_timeout_ms);
        add_timeout(p, "thaw_timeout_ms", o->thaw_timeout_ms);
        json_object *reply = NULL;
        r = qz_client_call(c, QZ_PROTO_METHOD_REGISTER_WRITER, p, t.fds, t.n_fds, &reply);
        qz_client_targets_done(&t);
        if (r < 0) {
                snprintf(open_error, sizeof(open_error), "writer %s: %s", o->name, qz_client_error(c));
                qz_client_close(c);
                return r;
        }
        json_object *wo = NULL;
        int64_t id = 0;
        json_object_object_get_ex(reply, "writer", &wo);
        qz_json_get_int64(wo, "id", &id);
        json_object_put(reply);
        qz_writer *w = calloc(1, sizeof(*w));
        if (!w) {
                qz_client_close(c);
                snprintf(open_error, sizeof(open_error), "out of memory");
                return -ENOMEM;
        }
        w->c = c;
        w->id = (uint64_t)id;
        if (cb)
                w->cb = *cb;
        w->userdata = userdata;
        *ret = w;
        return 0;
}

/* Printable, one line, at most 256 bytes: what quiesced accepts as a detail. */
static void clean_detail(const char *in, char *out, size_t size) {
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)in; *p && n + 1 < size && n < 256; p++)
                out[n++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        out[n] = '\0';
}

int qz_writer_answer(qz_writer *w, uint64_t freeze_id, qz_writer_phase phase, qz_writer_verdict verdict,
                     const char *detail) {
        if (!w || (unsigned)phase > QZ_WRITER_ABORT || (unsigned)verdict > QZ_WRITER_FAIL)
                return -EINVAL;
        int fd = qz_client_fd(w->c);
        if (fd < 0) {
                qz_client_set_error(w->c, "quiesced is gone: no answer can be sent");
                return -ENOTCONN;
        }
        static const char *const verdicts[] = {QZ_PROTO_ANSWER_OK, QZ_PROTO_ANSWER_VETO,
                                               QZ_PROTO_ANSWER_FAIL};
        json_object *req = json_object_new_object();
        json_object *p = json_object_new_object();
        json_object_object_add(req, "method", json_object_new_string(QZ_PROTO_METHOD_WRITER_ANSWER));
        json_object_object_add(p, "freeze", json_object_new_uint64(freeze_id));
        json_object_object_add(p, "phase", json_object_new_string(phase_names[phase]));
        json_object_object_add(p, "answer", json_object_new_string(verdicts[verdict]));
        if (detail && *detail) {
                char clean[257];
                clean_detail(detail, clean, sizeof(clean));
                json_object_object_add(p, "detail", json_object_new_string(clean));
        }
        json_object_object_add(req, "parameters", p);
        int r = qz_wire_send(fd, qz_json_text(req), NULL, 0);
        json_object_put(req);
        if (r < 0)
                qz_client_set_error(w->c, "cannot answer quiesced: %s", strerror(-r));
        return r;
}

static void call(qz_writer *w, const qz_writer_event *ev) {
        qz_writer_callback fns[] = {w->cb.prepare, w->cb.freeze, w->cb.thaw, w->cb.abort};
        qz_writer_callback fn = fns[ev->phase];
        if (fn)
                fn(w, ev, w->userdata);
        else if (!ev->daemon_gone)
                (void)qz_writer_answer(w, ev->freeze_id, ev->phase, QZ_WRITER_OK, NULL);
}

/* One message from quiesced: an event, or an error about an answer. */
static int handle(qz_writer *w, const char *text) {
        json_object *m = json_tokener_parse(text);
        if (!m || !json_object_is_type(m, json_type_object)) {
                json_object_put(m);
                qz_client_set_error(w->c, "quiesced sent a malformed message");
                return -EBADMSG;
        }
        json_object *p = NULL;
        json_object_object_get_ex(m, "parameters", &p);
        const char *event = qz_json_get_string(m, "event");
        if (!event) {
                const char *msg = qz_json_get_string(p, "message");
                if (qz_json_get_string(m, "error"))
                        qz_client_set_error(w->c, "quiesced refused an answer: %s", msg ? msg : "?");
                json_object_put(m);
                return 0;
        }
        qz_writer_event ev = {.timeout_ms = qz_json_int64_or(p, "timeout_ms", -1)};
        unsigned k = 0;
        while (k <= QZ_WRITER_ABORT && strcmp(event, phase_names[k]) != 0)
                k++;
        int64_t id = 0;
        if (k > QZ_WRITER_ABORT || !qz_json_get_int64(p, "freeze", &id) || id <= 0) {
                json_object_put(m);
                return 0; /* an event of a later protocol: not ours to answer */
        }
        ev.phase = (qz_writer_phase)k;
        ev.freeze_id = (uint64_t)id;
        const char *ids[QZ_WIRE_MAX_FDS], *mnts[QZ_WIRE_MAX_FDS];
        json_object *a = qz_json_get_array(p, "filesystems");
        for (size_t i = 0; a && i < json_object_array_length(a) && i < QZ_WIRE_MAX_FDS; i++) {
                json_object *f = json_object_array_get_idx(a, i);
                const char *fid = qz_json_get_string(f, "id"), *mnt = qz_json_get_string(f, "mountpoint");
                ids[ev.n_fs] = fid ? fid : "";
                mnts[ev.n_fs++] = mnt ? mnt : "";
        }
        ev.fs_ids = ids;
        ev.mountpoints = mnts;
        switch (ev.phase) {
        case QZ_WRITER_PREPARE:
                w->prepared = ev.freeze_id;
                break;
        case QZ_WRITER_FREEZE:
                w->prepared = 0;
                w->frozen = ev.freeze_id;
                break;
        case QZ_WRITER_THAW:
                if (w->frozen == ev.freeze_id)
                        w->frozen = 0;
                break;
        case QZ_WRITER_ABORT:
                if (w->prepared == ev.freeze_id)
                        w->prepared = 0;
                break;
        }
        call(w, &ev);
        json_object_put(m);
        return 0;
}

/* quiesced is gone: a freeze in progress is thawed, a prepare aborted, now. */
static int daemon_gone(qz_writer *w) {
        int fd = qz_client_fd(w->c);
        if (fd >= 0) {
                close(fd);
                qz_client_forget_fd(w->c);
        }
        qz_client_set_error(w->c, "quiesced closed the connection (it stopped or died)");
        if (w->frozen) {
                qz_writer_event ev = {.phase = QZ_WRITER_THAW, .freeze_id = w->frozen, .daemon_gone = 1};
                w->frozen = 0;
                call(w, &ev);
        }
        if (w->prepared) {
                qz_writer_event ev = {.phase = QZ_WRITER_ABORT, .freeze_id = w->prepared, .daemon_gone = 1};
                w->prepared = 0;
                call(w, &ev);
        }
        return -ECONNRESET;
}

int qz_writer_dispatch(qz_writer *w) {
        if (!w)
                return -EINVAL;
        if (w->c->fd < 0)
                return -ECONNRESET;
        for (;;) {
                char *text = NULL;
                int r = qz_wire_next(&w->c->reader, &text);
                if (r > 0) {
                        r = handle(w, text);
                        free(text);
                        if (r < 0)
                                return daemon_gone(w);
                        if (w->c->fd < 0)
                                return -ECONNRESET; /* a callback closed it */
                        continue;
                }
                if (r < 0 || w->c->reader.eof)
                        return daemon_gone(w);
                struct pollfd pfd = {.fd = w->c->fd, .events = POLLIN};
                if (poll(&pfd, 1, 0) <= 0)
                        return 0;
                ssize_t n = qz_wire_read(&w->c->reader, w->c->fd);
                if (n == -EINTR || n == -EAGAIN)
                        continue;
                if (n <= 0)
                        return daemon_gone(w);
        }
}
