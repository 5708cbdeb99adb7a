/* SPDX-License-Identifier: MIT */
/* "key = value" files: '#' and ';' start comments, blank lines are fine,
 * values may be double-quoted. Bounded: 64 KiB, 1024-byte lines. */
#pragma once

#include <stddef.h>

#define CONF_FILE_MAX (64 * 1024)
#define CONF_LINE_MAX 1024

/* Called per assignment; return < 0 to stop (e.g. -ENOKEY for an unknown
 * key). */
typedef int (*conf_cb)(const char *key, const char *value, unsigned line,
			 void *userdata);

/* On a syntax error or a callback error, *ret_line says where. */
int conf_parse(const char *text, size_t len, conf_cb cb, void *userdata,
		 unsigned *ret_line);
int conf_parse_file(const char *path, conf_cb cb, void *userdata,
		      unsigned *ret_line);
