/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dispatch.c - one request message to its method: parsed (parse.c), the
 * deadlines already due applied, then handed to the handler (methods.h).
 */
#include <errno.h>

#include "daemon.h"
#include "jsonutil.h"
#include "methods.h"
#include "reply.h"
#include "server.h"
#include "writers.h"

static void (*const handlers[])(qz_conn *c, const qz_request *req) = {
        [QZ_METHOD_FREEZE] = qz_method_freeze,
        [QZ_METHOD_THAW] = qz_method_thaw,
        [QZ_METHOD_RESET_TIMEOUT] = qz_method_reset_timeout,
        [QZ_METHOD_STATUS] = qz_method_status,
        [QZ_METHOD_GET_INFO] = qz_method_get_info,
        [QZ_METHOD_REGISTER_WRITER] = qz_method_register_writer,
        [QZ_METHOD_WRITER_ANSWER] = qz_method_writer_answer,
};

void qz_request_dispatch(qz_conn *c, const char *text) {
        qz_daemon *d = qz_conn_daemon(c);
        qz_request req;
        qz_request_error e;
        if (qz_request_parse(text, &req, &e) < 0) {
                if (d->shutting_down && req.method == QZ_METHOD_FREEZE)
                        qz_reply_error(c, -ESHUTDOWN, NULL, "quiesced is shutting down; no new freezes");
                else
                        qz_conn_reply(
                                c, qz_json_error(e.kind, e.err, e.has_path ? e.path : NULL, "%s", e.message));
                return;
        }
        /* Deadlines and the ceiling that have passed count before this request,
         * even if their timer has not fired yet (timer slack, a busy machine):
         * a request never sees a hold that is already due to be gone. */
        usec_t now = qz_now();
        if (now >= d->next_deadline)
                qz_holds_expire(d->holds, now);
        if (req.method == QZ_METHOD_FREEZE && d->shutting_down)
                qz_reply_error(c, -ESHUTDOWN, NULL, "quiesced is shutting down; no new freezes");
        else
                handlers[req.method](c, &req); /* parsed: the method is one of them */
        qz_request_done(&req);
}
