/* SPDX-License-Identifier: GPL-2.0-or-later */
/* parse.c - a job file (INI, read by libinih) into a qz_job: each key of
 * each section checked as it is read, so a refusal names the file, the line
 * and the reason; then what the file as a whole needs (paths, a consistent
 * backup target). Pure apart from reading the file; the schedule is checked
 * through the caller's function (calendar.c in the command, a fake in tests).
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "error.h"
#include "job.h"
#include "provider.h"
#include "quiesce.h"
#include "template.h"
#include "xalloc.h"

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

struct parse {
        const char *file;
        const char *text; /* what is left to read */
        int line;         /* the line the last chunk read belongs to */
        bool line_done;   /* the last chunk ended its line */
        qz_calendar_check_fn check;
        qz_job *job;
        char *error; /* the first refusal, "FILE:LINE: reason" */
        char *seen;  /* "\n[section]key\n..." of the keys given, for duplicates */
        int snapshot_line;
        int retention_line; /* the first key of [retention] */
};

/* inih's reader, counting lines: a chunk that does not end in '\n' is the
 * start of a long line, and the next chunk is the same line. */
static char *reader(char *str, int num, void *stream) {
        struct parse *p = stream;
        if (!*p->text || num < 2)
                return NULL;
        size_t len = strcspn(p->text, "\n");
        if (p->text[len] == '\n')
                len++;
        if (len > (size_t)num - 1)
                len = (size_t)num - 1;
        memcpy(str, p->text, len);
        str[len] = '\0';
        p->text += len;
        if (p->line_done)
                p->line++;
        p->line_done = len > 0 && str[len - 1] == '\n';
        return str;
}

static int refuse(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct parse *p, const char *fmt, ...) {
        if (p->error)
                return 0;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *why = xvasprintf(fmt, ap);
        va_end(ap);
        p->error = xasprintf("%s:%d: %s", p->file, p->line, why);
        return 0; /* inih: stop here */
}

static int parse_bool(struct parse *p, const char *section, const char *key, const char *v, bool *ret) {
        static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off",
                                                                                    "0"};
        for (size_t i = 0; i < 4; i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *ret = true, 1;
                if (strcasecmp(v, no[i]) == 0)
                        return *ret = false, 1;
        }
        return refuse(p, "bad value \"%s\" for \"%s\" in [%s]: expected yes or no", v, key, section);
}

static int parse_ms(struct parse *p, const char *section, const char *key, const char *v, int64_t *ret) {
        int64_t ms;
        if (qz_parse_duration(v, &ms) < 0 || ms == QZ_NO_DEADLINE || ms <= 0)
                return refuse(p, "bad duration \"%s\" for \"%s\" in [%s]: expected e.g. 500ms, 10s, 2m, 1h",
                              v, key, section);
        *ret = ms;
        return 1;
}

static int parse_count(struct parse *p, const char *section, const char *key, const char *v, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (!*v || *end || errno || n > 100000 || v[0] == '-' || v[0] == '+')
                return refuse(p, "bad value \"%s\" for \"%s\" in [%s]: expected a count 0..100000", v, key,
                              section);
        *ret = (unsigned)n;
        return 1;
}

static int set_string(char **field, const char *v) {
        free(*field);
        *field = xstrdup(v);
        return 1;
}

/* Appends the blank-separated words of v to *list. */
static void append_words(char ***list, size_t *n, const char *v) {
        size_t k = 0;
        _cleanup_(qz_strv_freep) char **w = qz_template_split(v, &k);
        char **nl = realloc(*list, (*n + k + 1) * sizeof(char *));
        if (!nl)
                abort();
        for (size_t i = 0; i < k; i++)
                nl[*n + i] = TAKE_PTR(w[i]);
        *n += k;
        nl[*n] = NULL;
        *list = nl;
}

static int check_exec_template(struct parse *p, const char *key, const char *v, bool delete) {
        static const qz_placeholder vars[] = {{"device", NULL}, {"mountpoint", NULL}, {"fstype", NULL},
                                              {"name", NULL},   {"id", NULL},         {"location", NULL}};
        size_t n = 0;
        _cleanup_(qz_strv_freep) char **argv = qz_template_split(v, &n);
        if (n == 0)
                return refuse(p, "\"%s\" in [snapshot] is empty", key);
        _cleanup_free_ char *bad = qz_template_unknown(argv, n, vars, delete ? 6 : 5);
        if (bad)
                return refuse(p,
                              "unknown placeholder %s in \"%s\" (known: {device} {mountpoint} {fstype} "
                              "{name} {id}%s)",
                              bad, key, delete ? " {location}" : "");
        return 1;
}

static int key_job(struct parse *p, const char *key, const char *v) {
        qz_job *j = p->job;
        if (strcmp(key, "description") == 0)
                return set_string(&j->description, v);
        if (strcmp(key, "store") == 0 || strcmp(key, "metrics-dir") == 0) {
                if (v[0] != '/' && !(key[0] == 'm' && (!*v || strcmp(v, "none") == 0)))
                        return refuse(p, "\"%s\" in [job] must be an absolute path, not \"%s\"", key, v);
                return set_string(key[0] == 's' ? &j->store : &j->metrics_dir, v);
        }
        if (strcmp(key, "schedule") == 0) {
                _cleanup_free_ char *why = NULL;
                if (!*v)
                        return refuse(p, "\"schedule\" in [job] is empty (leave it out to run by hand only)");
                if (p->check && p->check(v, &why) < 0)
                        return refuse(p, "bad schedule \"%s\" in [job]: %s", v,
                                      why ? why : "not a calendar event");
                return set_string(&j->schedule, v);
        }
        return refuse(p, "unknown key \"%s\" in [job]", key);
}

static int key_snapshot(struct parse *p, const char *key, const char *v) {
        qz_job *j = p->job;
        if (!p->snapshot_line)
                p->snapshot_line = p->line;
        if (strcmp(key, "paths") == 0) {
                size_t before = j->n_paths;
                append_words(&j->paths, &j->n_paths, v);
                for (size_t i = before; i < j->n_paths; i++)
                        if (j->paths[i][0] != '/')
                                return refuse(p, "path \"%s\" in [snapshot] is not absolute", j->paths[i]);
                if (j->n_paths == before)
                        return refuse(p, "\"paths\" in [snapshot] is empty");
                return 1;
        }
        if (strcmp(key, "provider") == 0) {
                if (strcmp(v, "auto") != 0 && !qz_provider_by_name(v))
                        return refuse(
                                p,
                                "unknown provider \"%s\" in [snapshot] (known: auto reflink btrfs exec lvm)",
                                v);
                return set_string(&j->provider, v);
        }
        if (strcmp(key, "exec-cmd") == 0 || strcmp(key, "exec-delete") == 0) {
                bool del = strcmp(key, "exec-delete") == 0;
                if (!check_exec_template(p, key, v, del))
                        return 0;
                return set_string(del ? &j->exec_delete : &j->exec_cmd, v);
        }
        if (strcmp(key, "lvm-size") == 0)
                return set_string(&j->lvm_size, v);
        if (strcmp(key, "hooks-dir") == 0) {
                if (v[0] != '/')
                        return refuse(p, "\"hooks-dir\" in [snapshot] must be an absolute path, not \"%s\"",
                                      v);
                return set_string(&j->hooks_dir, v);
        }
        if (strcmp(key, "exec-timeout") == 0)
                return parse_ms(p, "snapshot", key, v, &j->exec_timeout_ms);
        if (strcmp(key, "timeout") == 0)
                return parse_ms(p, "snapshot", key, v, &j->timeout_ms);
        if (strcmp(key, "hook-timeout") == 0)
                return parse_ms(p, "snapshot", key, v, &j->hook_timeout_ms);
        if (strcmp(key, "writers") == 0) {
                append_words(&j->writers, &j->n_writers, v);
                return 1;
        }
        if (strcmp(key, "allow-crash-consistent") == 0)
                return parse_bool(p, "snapshot", key, v, &j->allow_crash_consistent);
        if (strcmp(key, "no-freeze") == 0)
                return parse_bool(p, "snapshot", key, v, &j->no_freeze);
        return refuse(p, "unknown key \"%s\" in [snapshot]", key);
}

static int key_backup(struct parse *p, const char *key, const char *v) {
        qz_job *j = p->job;
        if (strcmp(key, "archive-dir") == 0) {
                if (v[0] != '/')
                        return refuse(p, "\"archive-dir\" in [backup] must be an absolute path, not \"%s\"",
                                      v);
                return set_string(&j->archive_dir, v);
        }
        if (strcmp(key, "format") == 0) {
                if (strcmp(v, "tar") != 0 && strcmp(v, "tar.gz") != 0 && strcmp(v, "tar.zst") != 0)
                        return refuse(p, "bad format \"%s\" in [backup]: expected tar, tar.gz or tar.zst", v);
                return set_string(&j->archive_format, v);
        }
        if (strcmp(key, "exec") == 0) {
                if (j->exec)
                        return refuse(p, "\"exec\" given twice in [backup]");
                append_words(&j->exec, &j->n_exec, v);
                if (j->n_exec == 0)
                        return refuse(p, "\"exec\" in [backup] is empty");
                _cleanup_free_ char *bad = bk_exec_unknown_placeholder(j->exec, j->n_exec);
                if (bad)
                        return refuse(p,
                                      "unknown placeholder %s in \"exec\" (known: " BK_EXEC_PLACEHOLDERS ")",
                                      bad);
                return 1;
        }
        if (strcmp(key, "env") == 0) {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v ||
                    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                            (size_t)(eq - v))
                        return refuse(p, "bad value \"%s\" for \"env\" in [backup]: expected NAME=VALUE", v);
                char **nl = realloc(j->exec_env, (j->n_exec_env + 2) * sizeof(char *));
                if (!nl)
                        abort();
                nl[j->n_exec_env++] = xstrdup(v);
                nl[j->n_exec_env] = NULL;
                j->exec_env = nl;
                return 1;
        }
        if (strcmp(key, "keep-snapshot") == 0)
                return parse_bool(p, "backup", key, v, &j->keep_snapshot);
        return refuse(p, "unknown key \"%s\" in [backup]", key);
}

static int key_retention(struct parse *p, const char *key, const char *v) {
        if (!p->retention_line)
                p->retention_line = p->line;
        qz_retention *r = &p->job->retention;
        static const char *const names[] = {"keep-last", "keep-hourly", "keep-daily", "keep-weekly",
                                            "keep-monthly"};
        unsigned *fields[] = {&r->keep_last, &r->keep_hourly, &r->keep_daily, &r->keep_weekly,
                              &r->keep_monthly};
        for (size_t i = 0; i < 5; i++)
                if (strcmp(key, names[i]) == 0) {
                        p->job->has_retention = true;
                        return parse_count(p, "retention", key, v, fields[i]);
                }
        return refuse(p, "unknown key \"%s\" in [retention]", key);
}

static int handler(void *user, const char *section, const char *key, const char *value) {
        struct parse *p = user;
        if (p->error)
                return 0;
        static const char *const repeatable[] = {"paths", "writers", "env"};
        bool rep = false;
        for (size_t i = 0; i < 3; i++)
                rep = rep || strcmp(key, repeatable[i]) == 0;
        _cleanup_free_ char *tag = xasprintf("\n[%s]%s\n", section, key);
        if (!rep && strstr(p->seen, tag))
                return refuse(p, "\"%s\" given twice in [%s]", key, section);
        char *seen = xasprintf("%s%s", p->seen, tag + 1);
        free(p->seen);
        p->seen = xasprintf("\n%s", seen);
        free(seen);
        if (strcmp(section, "job") == 0)
                return key_job(p, key, value);
        if (strcmp(section, "snapshot") == 0)
                return key_snapshot(p, key, value);
        if (strcmp(section, "backup") == 0)
                return key_backup(p, key, value);
        if (strcmp(section, "retention") == 0)
                return key_retention(p, key, value);
        if (!*section)
                return refuse(
                        p, "key \"%s\" outside a section (sections: [job] [snapshot] [backup] [retention])",
                        key);
        return refuse(p, "unknown section [%s] (sections: [job] [snapshot] [backup] [retention])", section);
}

/* What the file as a whole needs, once every key is read. */
static int check_whole(struct parse *p) {
        qz_job *j = p->job;
        int line = p->snapshot_line ? p->snapshot_line : p->line;
        if (j->n_paths == 0)
                return qz_error(&p->error, -EINVAL,
                                "%s:%d: no \"paths\" in [snapshot]: a job names the paths it snapshots",
                                p->file, line);
        bool is_exec = j->provider && strcmp(j->provider, "exec") == 0;
        if (is_exec && !j->exec_cmd)
                return qz_error(&p->error, -EINVAL,
                                "%s:%d: provider \"exec\" needs \"exec-cmd\" in [snapshot]", p->file, line);
        if (!is_exec && (j->exec_cmd || j->exec_delete || j->exec_timeout_ms))
                return qz_error(
                        &p->error, -EINVAL,
                        "%s:%d: \"exec-cmd\", \"exec-delete\" and \"exec-timeout\" need provider \"exec\"",
                        p->file, line);
        if (j->n_writers && j->no_freeze)
                return qz_error(&p->error, -EINVAL,
                                "%s:%d: \"writers\" and \"no-freeze\" exclude each other in [snapshot]: a "
                                "snapshot without a freeze asks no writer",
                                p->file, line);
        if (j->archive_dir && j->exec)
                return qz_error(
                        &p->error, -EINVAL,
                        "%s: \"archive-dir\" and \"exec\" exclude each other in [backup]: one target per job",
                        p->file);
        if (j->archive_format && !j->archive_dir)
                return qz_error(&p->error, -EINVAL, "%s: \"format\" in [backup] needs \"archive-dir\"",
                                p->file);
        if (j->n_exec_env && !j->exec)
                return qz_error(&p->error, -EINVAL, "%s: \"env\" in [backup] needs \"exec\"", p->file);
        if (j->has_retention && qz_retention_empty(&j->retention))
                return qz_error(
                        &p->error, -EINVAL,
                        "%s:%d: [retention] keeps nothing (every keep-* is 0): leave the section out to "
                        "keep every snapshot",
                        p->file, p->retention_line);
        j->target = j->archive_dir ? QZ_JOB_TARGET_ARCHIVE
                    : j->exec      ? QZ_JOB_TARGET_EXEC
                                   : QZ_JOB_TARGET_NONE;
        if (j->archive_dir && !j->archive_format)
                j->archive_format = xstrdup("tar.zst");
        return 0;
}

/* The job's name: the file's base name without ".conf". */
static int name_of(const char *file, char **ret, char **ret_error) {
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        size_t n = strlen(base), sl = strlen(QZ_JOB_SUFFIX);
        if (n <= sl || strcmp(base + n - sl, QZ_JOB_SUFFIX) != 0)
                return qz_error(ret_error, -EINVAL, "%s: a job file's name ends in " QZ_JOB_SUFFIX, file);
        _cleanup_free_ char *name = strndup(base, n - sl);
        if (!name)
                abort();
        if (!qz_job_name_valid(name))
                return qz_error(
                        ret_error, -EINVAL,
                        "%s: \"%s\" is not a job name (1..%d of A-Z a-z 0-9 _ . -, not starting with . or -)",
                        file, name, QZ_JOB_NAME_MAX);
        *ret = TAKE_PTR(name);
        return 0;
}

int qz_job_parse_string(const char *file, const char *text, qz_calendar_check_fn check, qz_job **ret,
                        char **ret_error) {
        _cleanup_(qz_job_freep) qz_job *j = calloc(1, sizeof(*j));
        if (!j)
                abort();
        int r = name_of(file, &j->name, ret_error);
        if (r < 0)
                return r;
        j->file = xstrdup(file);
        j->keep_snapshot = true;
        /* libinih's runtime settings (Debian's build has them): lines of any
         * length, no inline comments (';' is a command's), no continuation
         * lines, the first error ends the parse. */
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = 64 * 1024;
        ini_allow_inline_comments = false;
        ini_allow_multiline = false;
        ini_stop_on_first_error = true;
        struct parse p = {.file = file,
                          .text = text,
                          .line = 0,
                          .line_done = true,
                          .check = check,
                          .job = j,
                          .seen = xstrdup("\n")};
        r = ini_parse_stream(reader, &p, handler, &p);
        free(p.seen);
        if (r > 0 && !p.error) /* a syntax error: no '=' or ']' */
                p.error = xasprintf("%s:%d: syntax error: expected [section], KEY = VALUE or a # comment",
                                    file, r);
        if (r == -2)
                abort(); /* inih's allocation failed */
        if (!p.error)
                check_whole(&p);
        if (p.error) {
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = p.error;
                } else
                        free(p.error);
                return -EINVAL;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int qz_job_parse_file(const char *file, qz_calendar_check_fn check, qz_job **ret, char **ret_error) {
        _cleanup_(fclosep) FILE *f = fopen(file, "re");
        if (!f) {
                int r = -errno;
                return qz_error(ret_error, r, "%s: %s", file, strerror(-r));
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem)
                abort();
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, mem);
        bool err = ferror(f);
        fclose(mem);
        if (err)
                return qz_error(ret_error, -EIO, "%s: read error", file);
        if (strlen(text) != len)
                return qz_error(ret_error, -EINVAL, "%s: not a text file (a NUL byte)", file);
        return qz_job_parse_string(file, text, check, ret, ret_error);
}
