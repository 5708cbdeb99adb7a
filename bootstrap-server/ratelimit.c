/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define RL_SLOTS 4096
#define RL_SOURCE_MAX 48

struct rl_entry {
	char source[RL_SOURCE_MAX];
	int64_t window_start;
	unsigned failures;
};

struct ratelimit {
	unsigned max_failures;
	unsigned window;
	struct rl_entry slot[RL_SLOTS];
};

struct ratelimit *
ratelimit_new(unsigned max_failures, unsigned window_s)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->max_failures = max_failures;
	rl->window = window_s;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	free(rl);
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Open addressing over 8 probes; when none matches, an empty or expired
 * probe is reused, else the one with the oldest window. */
static int64_t
staleness(const struct ratelimit *rl, const struct rl_entry *e, int64_t now)
{
	if (!e->source[0] || e->window_start + (int64_t)rl->window <= now)
		return INT64_MIN;
	return e->window_start;
}

static struct rl_entry *
lookup(struct ratelimit *rl, const char *source, int64_t now, int create)
{
	uint32_t h = hash(source);
	struct rl_entry *victim = NULL;
	unsigned i;

	for (i = 0; i < 8; i++) {
		struct rl_entry *e = &rl->slot[(h + i) % RL_SLOTS];
		if (strcmp(e->source, source) == 0)
			return e;
		if (!victim ||
		    staleness(rl, e, now) < staleness(rl, victim, now))
			victim = e;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->source, sizeof(victim->source), "%s", source);
	victim->window_start = now;
	return victim;
}

unsigned
ratelimit_check(struct ratelimit *rl, const char *source, int64_t now)
{
	struct rl_entry *e = lookup(rl, source, now, 0);

	if (!e || e->window_start + (int64_t)rl->window <= now)
		return 0;
	if (e->failures < rl->max_failures)
		return 0;
	return (unsigned)(e->window_start + rl->window - now);
}

void
ratelimit_fail(struct ratelimit *rl, const char *source, int64_t now)
{
	struct rl_entry *e = lookup(rl, source, now, 1);

	if (e->window_start + (int64_t)rl->window <= now) {
		e->window_start = now;
		e->failures = 0;
	}
	e->failures++;
}
