/* SPDX-License-Identifier: GPL-2.0-or-later */
/* jsonutil.c - json-c helpers for protocol envelopes (see jsonutil.h). */
#include "jsonutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *qz_errno_name(int err) {
        const char *n = strerrorname_np(err);
        return n ? n : "E?";
}

json_object *qz_json_error(const char *error, int err, const char *path, const char *fmt, ...) {
        char *msg; /* a message quoting a path is never cut short */
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort(); /* out of memory on the control path: see docs/CODING_STYLE.md */
        va_end(ap);
        json_object *p = json_object_new_object();
        json_object_object_add(p, "errno", json_object_new_int(err));
        json_object_object_add(p, "errno_name", json_object_new_string(qz_errno_name(err)));
        json_object_object_add(p, "message", json_object_new_string(msg));
        free(msg);
        if (path)
                json_object_object_add(p, "path", json_object_new_string(path));
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(error));
        json_object_object_add(o, "parameters", p);
        return o;
}

bool qz_json_get_int64(json_object *o, const char *key, int64_t *ret) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

bool qz_json_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

const char *qz_json_get_string(json_object *o, const char *key) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

int64_t qz_json_int64_or(json_object *o, const char *key, int64_t def) {
        int64_t v;
        return qz_json_get_int64(o, key, &v) ? v : def;
}

bool qz_json_bool_or(json_object *o, const char *key, bool def) {
        bool v;
        return qz_json_get_bool(o, key, &v) ? v : def;
}

json_object *qz_json_get_array(json_object *o, const char *key) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
                return NULL;
        return v;
}

const char *qz_json_text(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}
