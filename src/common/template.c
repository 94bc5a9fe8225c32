/* SPDX-License-Identifier: GPL-2.0-or-later */
/* template.c - command templates: splitting and the placeholder rule (template.h). */
#include "template.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void qz_strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

char *qz_strv_join(char *const *v, size_t n, const char *sep) {
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
                len += strlen(v[i]) + strlen(sep);
        char *s = malloc(len);
        if (!s)
                abort();
        s[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(s, sep);
                strcat(s, v[i]);
        }
        return s;
}

char **qz_template_split(const char *tmpl, size_t *n) {
        size_t cap = 8;
        char **v = calloc(cap, sizeof(*v));
        if (!v)
                abort();
        *n = 0;
        const char *p = tmpl;
        for (;;) {
                while (*p == ' ' || *p == '\t' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                size_t len = strcspn(p, " \t\n");
                if (*n + 2 > cap) {
                        cap *= 2;
                        v = realloc(v, cap * sizeof(*v));
                        if (!v)
                                abort();
                }
                v[*n] = strndup(p, len);
                if (!v[*n])
                        abort();
                (*n)++;
                p += len;
        }
        v[*n] = NULL;
        return v;
}

/* The length of the {word} at p (braces included), or 0 when p starts none. */
static size_t placeholder_len(const char *p) {
        if (*p != '{')
                return 0;
        size_t k = 1;
        while ((p[k] >= 'a' && p[k] <= 'z') || p[k] == '_')
                k++;
        return k > 1 && p[k] == '}' ? k + 1 : 0;
}

char *qz_template_substitute(const char *arg, const qz_placeholder *vars, size_t n_vars, char **ret_unknown) {
        size_t cap = strlen(arg) + 64, len = 0;
        char *out = malloc(cap);
        if (!out)
                abort();
        *ret_unknown = NULL;
        for (const char *p = arg; *p;) {
                const char *val = NULL;
                size_t skip = placeholder_len(p);
                if (skip) {
                        for (size_t i = 0; i < n_vars && !val; i++)
                                if (strlen(vars[i].name) == skip - 2 &&
                                    strncmp(vars[i].name, p + 1, skip - 2) == 0)
                                        val = vars[i].value ? vars[i].value : "";
                        if (!val) {
                                *ret_unknown = strndup(p, skip);
                                if (!*ret_unknown)
                                        abort();
                                free(out);
                                return NULL;
                        }
                }
                size_t add = val ? strlen(val) : 1;
                if (len + add + 1 > cap) {
                        cap = (len + add + 1) * 2;
                        out = realloc(out, cap);
                        if (!out)
                                abort();
                }
                if (val) {
                        memcpy(out + len, val, add);
                        p += skip;
                } else
                        out[len] = *p++;
                len += add;
        }
        out[len] = '\0';
        return out;
}

char *qz_template_unknown(char *const *argv, size_t n, const qz_placeholder *vars, size_t n_vars) {
        for (size_t i = 0; i < n; i++) {
                char *bad;
                char *s = qz_template_substitute(argv[i], vars, n_vars, &bad);
                if (!s)
                        return bad;
                free(s);
        }
        return NULL;
}
