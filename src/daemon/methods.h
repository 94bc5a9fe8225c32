/* SPDX-License-Identifier: GPL-2.0-or-later */
/* methods.h - the protocol's methods (docs/protocol.md), one handler each:
 * freeze.c, thaw.c (Thaw and ResetTimeout), status.c (Status and GetInfo).
 * dispatch.c hands a parsed request to its handler. A handler answers
 * through the connection, now or, after qz_conn_begin, later.
 */
#pragma once

#include "parse.h"

typedef struct qz_conn qz_conn;

/* One message (the text between two NULs), parsed and handled. */
void qz_request_dispatch(qz_conn *c, const char *text);

void qz_method_freeze(qz_conn *c, const qz_request *req);
void qz_method_thaw(qz_conn *c, const qz_request *req);
void qz_method_reset_timeout(qz_conn *c, const qz_request *req);
void qz_method_status(qz_conn *c, const qz_request *req);
void qz_method_get_info(qz_conn *c, const qz_request *req);
