/* SPDX-License-Identifier: GPL-2.0-or-later */
/* template.h - command templates, the one placeholder rule of quiesce: a
 * template is split on blanks into an argv (no shell, no quoting), and in
 * each argument a {word} (lowercase letters and '_') is replaced by its
 * value. An unknown {word} is refused, naming it, before anything runs
 * (the exec provider's --exec-cmd/--exec-delete, backup's --exec); any
 * other brace ("{}", "{A}", "{{") is kept as it is.
 */
#pragma once

#include <stddef.h>

#include "cleanup.h"

typedef struct qz_placeholder {
        const char *name;  /* "device", without the braces */
        const char *value; /* NULL: replaced by "" */
} qz_placeholder;

/* arg with each {name} replaced (malloc'd); NULL with *ret_unknown the
 * unknown placeholder, braces and all ("{volume}", malloc'd). */
char *qz_template_substitute(const char *arg, const qz_placeholder *vars, size_t n_vars, char **ret_unknown);
/* The first unknown placeholder in any of argv[0..n) (malloc'd), or NULL. */
char *qz_template_unknown(char *const *argv, size_t n, const qz_placeholder *vars, size_t n_vars);
/* Splits a template on blanks (no quoting, no expansion). NULL-terminated, malloc'd. */
char **qz_template_split(const char *tmpl, size_t *n);
void qz_strv_free(char **v);
QZ_DEFINE_POINTER_CLEANUP(char *, qz_strv_free);
/* v[0..n) joined by sep (malloc'd): a command line or a list in a message. */
char *qz_strv_join(char *const *v, size_t n, const char *sep);
