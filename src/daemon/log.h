/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log.h - logging that can never block the control path: messages go to an
 * in-memory ring drained by a thread of its own, so a stalled sink (journald
 * on a frozen /var, a full pipe) costs dropped lines, never a late thaw.
 */
#pragma once

#include <syslog.h>

void qz_log_init(int max_level); /* LOG_ERR .. LOG_DEBUG */
void qz_log_shutdown(void);      /* drains what is queued (bounded wait) */
void qz_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qz_log_level_from_string(const char *s);

#define log_error(...) qz_log(LOG_ERR, __VA_ARGS__)
#define log_warning(...) qz_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) qz_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) qz_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) qz_log(LOG_DEBUG, __VA_ARGS__)
