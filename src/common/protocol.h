/* SPDX-License-Identifier: GPL-2.0-or-later */
/* protocol.h - the names of quiesced's protocol (docs/protocol.md): its
 * methods and its error kinds, spelled once for the daemon and libquiesce.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>

/* Methods: a request's "method" */
#define QZ_PROTO_METHOD_FREEZE "io.quiesce.Freeze"
#define QZ_PROTO_METHOD_THAW "io.quiesce.Thaw"
#define QZ_PROTO_METHOD_RESET_TIMEOUT "io.quiesce.ResetTimeout"
#define QZ_PROTO_METHOD_STATUS "io.quiesce.Status"
#define QZ_PROTO_METHOD_GET_INFO "io.quiesce.GetInfo"
#define QZ_PROTO_METHOD_REGISTER_WRITER "io.quiesce.RegisterWriter" /* the connection becomes a writer */
#define QZ_PROTO_METHOD_WRITER_ANSWER "io.quiesce.WriterAnswer"     /* a writer's answer to a phase */

/* Writers (docs/protocol.md, "Writers"): the events quiesced sends a writer
 * unasked ({"event": ..., "parameters": ...}) and the answers it takes. */
#define QZ_PROTO_PHASE_PREPARE "prepare"
#define QZ_PROTO_PHASE_FREEZE "freeze"
#define QZ_PROTO_PHASE_THAW "thaw"
#define QZ_PROTO_PHASE_ABORT "abort"
#define QZ_PROTO_ANSWER_OK "ok"
#define QZ_PROTO_ANSWER_VETO "veto"
#define QZ_PROTO_ANSWER_FAIL "fail"

/* Error kinds: an error reply's "error" */
#define QZ_PROTO_ERROR "io.quiesce.Error"                              /* an errno-shaped failure */
#define QZ_PROTO_ERROR_FREEZE_BROKEN "io.quiesce.FreezeBroken"         /* ESTALE: a freeze did not hold */
#define QZ_PROTO_ERROR_INVALID_REQUEST "io.quiesce.InvalidRequest"     /* EINVAL: malformed, unknown, bad */
#define QZ_PROTO_ERROR_MESSAGE_TOO_LARGE "io.quiesce.MessageTooLarge"  /* EMSGSIZE */
#define QZ_PROTO_ERROR_PERMISSION_DENIED "io.quiesce.PermissionDenied" /* EPERM */

/* The kind of a failure with errno err: EINVAL that names no path is the
 * request's own fault (InvalidRequest), anything else an Error. */
static inline const char *qz_proto_error_kind(int err, bool has_path) {
        return err == EINVAL && !has_path ? QZ_PROTO_ERROR_INVALID_REQUEST : QZ_PROTO_ERROR;
}
