/* SPDX-License-Identifier: MIT */
/* Per-source limit on failed redemptions: a fixed table of recent sources,
 * each with a failure count in the current window. A full table forgets
 * the oldest entry, so memory stays bounded whatever the traffic. */
#pragma once

#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(unsigned max_failures, unsigned window_s);
void ratelimit_free(struct ratelimit *rl);
/* 0 when source may proceed, else the seconds until it may. */
unsigned ratelimit_check(struct ratelimit *rl, const char *source,
			 int64_t now);
void ratelimit_fail(struct ratelimit *rl, const char *source, int64_t now);
