/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jsonutil.h - small json-c helpers for the protocol's envelopes: building
 * error replies that name errno, path and reason, and reading typed fields.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* {"error": error, "parameters": {"errno": err, "errno_name": ..., "message": ..., "path": ...}} */
json_object *qz_json_error(const char *error, int err, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* errno_name for a positive errno ("EBUSY"), or "E?" */
const char *qz_errno_name(int err);

/* Typed lookups: true if the key exists with that type. */
bool qz_json_get_int64(json_object *o, const char *key, int64_t *ret);
bool qz_json_get_bool(json_object *o, const char *key, bool *ret);
const char *qz_json_get_string(json_object *o, const char *key); /* NULL if absent or not a string */
/* o[key] as that type, or def when absent or of another type. */
int64_t qz_json_int64_or(json_object *o, const char *key, int64_t def);
bool qz_json_bool_or(json_object *o, const char *key, bool def);
/* The array o[key], or NULL when absent or not an array. */
json_object *qz_json_get_array(json_object *o, const char *key);

/* Serialize compactly; the string belongs to o. */
const char *qz_json_text(json_object *o);
