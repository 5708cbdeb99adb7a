/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "retry.h"

uint64_t
retry_ceiling_ms(const struct retry_policy *p, unsigned attempt)
{
	uint64_t c = p->initial_ms;

	/* Shift one step at a time so that nothing overflows. */
	while (attempt-- > 0 && c < p->max_ms)
		c <<= 1;
	return c < p->max_ms ? c : p->max_ms;
}

uint64_t
retry_backoff_ms(const struct retry_policy *p, unsigned attempt, uint64_t rnd)
{
	return rnd % (retry_ceiling_ms(p, attempt) + 1);
}

uint64_t
retry_delay_ms(const struct retry_policy *p, unsigned attempt,
	       int64_t retry_after_s, uint64_t rnd)
{
	if (retry_after_s >= 0) {
		uint64_t ms = (uint64_t)retry_after_s * 1000;
		if (retry_after_s > (int64_t)(UINT32_MAX) || ms > p->max_ms)
			return p->max_ms;
		return ms;
	}
	return retry_backoff_ms(p, attempt, rnd);
}

bool
retry_may_continue(const struct retry_policy *p, unsigned attempts_done)
{
	return p->attempts == 0 || attempts_done < p->attempts;
}

int
retry_after_parse(const char *value, time_t now, int64_t *ret_s)
{
	struct tm tm;
	const char *end;
	int64_t v = 0;
	time_t t;

	if (!value || !*value)
		return -EINVAL;
	if (value[0] >= '0' && value[0] <= '9') {
		for (end = value; *end >= '0' && *end <= '9'; end++) {
			if (v > 100000000)
				return -ERANGE;
			v = v * 10 + (*end - '0');
		}
		if (*end)
			return -EINVAL;
		*ret_s = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_s = t > now ? (int64_t)(t - now) : 0;
	return 0;
}

enum http_verdict
retry_classify_status(long status)
{
	if (status == 200)
		return HTTP_VERDICT_OK;
	if (status == 408 || status == 425 || status == 429 ||
	    (status >= 500 && status <= 599))
		return HTTP_VERDICT_RETRY;
	if (status >= 400 && status <= 499)
		return HTTP_VERDICT_REFUSED;
	return HTTP_VERDICT_UNEXPECTED;
}
