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
