/* SPDX-License-Identifier: MIT */
/* One small log module. Under systemd ($JOURNAL_STREAM set and matching
 * stderr) lines carry "<N>" priority prefixes and structured events go to
 * the journal; otherwise plain lines on stderr. Never log a secret. */
#pragma once

#include <syslog.h>

#include "macro.h"

void log_init(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs and returns -abs(err) so callers can `return log_error_errno(r, ...)`. */
int log_full_errno(int level, int err, const char *fmt, ...) _printf_(3, 4);

/* A structured event: message plus "KEY=value" fields, NULL-terminated.
 * Fields go to the journal when running under systemd, and are appended
 * to the stderr line otherwise. */
void log_event(int level, const char *message, ...) _sentinel_;

#define log_full(level, ...) ((void)log_full_errno((level), 0, __VA_ARGS__))
#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
