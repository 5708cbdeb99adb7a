/* SPDX-License-Identifier: MIT */
/* When to try again: capped exponential backoff with full jitter, the
 * server's Retry-After, and which HTTP answers are worth retrying. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct retry_policy {
	unsigned initial_ms;
	unsigned max_ms;
	unsigned attempts; /* 0: unlimited */
};

/* The backoff ceiling before the (attempt+1)-th retry:
 * min(max_ms, initial_ms * 2^attempt). */
uint64_t retry_ceiling_ms(const struct retry_policy *p, unsigned attempt);
/* Full jitter: uniform in [0, ceiling] drawn from rnd. */
uint64_t retry_backoff_ms(const struct retry_policy *p, unsigned attempt,
			  uint64_t rnd);
/* The wait after a failed attempt: the server's Retry-After (seconds, < 0
 * when none) when it gave one, capped at max_ms, else retry_backoff_ms(). */
uint64_t retry_delay_ms(const struct retry_policy *p, unsigned attempt,
			int64_t retry_after_s, uint64_t rnd);
/* attempts_done attempts failed: may another one start? */
bool retry_may_continue(const struct retry_policy *p, unsigned attempts_done);
/* Retry-After: delta-seconds or an IMF-fixdate relative to now. -EINVAL
 * for anything else. */
int retry_after_parse(const char *value, time_t now, int64_t *ret_s);

enum http_verdict {
	HTTP_VERDICT_OK,	 /* 200 */
	HTTP_VERDICT_RETRY,	 /* 408, 425, 429, 5xx */
	HTTP_VERDICT_REFUSED,	 /* other 4xx: the server said no */
	HTTP_VERDICT_UNEXPECTED, /* 1xx, other 2xx, 3xx (never followed) */
};

enum http_verdict retry_classify_status(long status);
