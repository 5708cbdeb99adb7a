/* SPDX-License-Identifier: MIT */
/* Fuzz target: conf_parse. Besides crashes and sanitizer reports, it aborts
 * when an invariant breaks: keys are non-empty and of the key alphabet,
 * values are single lines, line numbers only grow, an error names a line
 * that exists, and a callback error (key "stop") stops parsing there. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "macro.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

struct seen {
	unsigned n;
	unsigned last_line;
	unsigned stop_line;
};

static int
on_assignment(const char *key, const char *value, unsigned line, void *userdata)
{
	struct seen *s = userdata;
	const char *p;

	CHECK(*key);
	for (p = key; *p; p++)
		CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.');
	CHECK(strlen(key) + strlen(value) < CONF_LINE_MAX);
	CHECK(!strchr(value, '\n'));
	CHECK(line > s->last_line);
	s->last_line = line;
	s->n++;
	if (streq(key, "stop")) {
		s->stop_line = line;
		return -ENOKEY;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = {0};
	unsigned line = 0, lines = 1;
	size_t i;
	int r;

	r = conf_parse((const char *)data, size, on_assignment, &s, &line);
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (size > CONF_FILE_MAX) {
		CHECK(r == -EFBIG && s.n == 0);
		return 0;
	}
	CHECK(r == 0 || r == -EINVAL || r == -ENOKEY);
	if (r == -ENOKEY)
		CHECK(line == s.stop_line);
	if (r == -EINVAL)
		CHECK(line >= 1 && line <= lines && line > s.last_line);
	if (r == 0)
		CHECK(s.stop_line == 0);
	return 0;
}
