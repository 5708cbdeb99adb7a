/* SPDX-License-Identifier: MIT */
/* enrolld/retry.c: capped exponential backoff with full jitter, the
 * server's Retry-After, and which answers are retried. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "crypto.h"
#include "retry.h"

static const struct retry_policy policy = {
	.initial_ms = 1000,
	.max_ms = 60000,
	.attempts = 0,
};

static void
test_ceiling_doubles_then_caps(void **state)
{
	static const uint64_t want[] = {1000,  2000,  4000,  8000, 16000,
					32000, 60000, 60000, 60000};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(retry_ceiling_ms(&policy, i), want[i]);
	/* No overflow, no endless loop for absurd attempt numbers. */
	assert_int_equal(retry_ceiling_ms(&policy, 64), 60000);
	assert_int_equal(retry_ceiling_ms(&policy, UINT32_MAX), 60000);
}

/* Full jitter: every delay lies in [0, ceiling], both ends reachable. */
static void
test_backoff_bounded(void **state)
{
	unsigned attempt;
	uint64_t rnd, c;
	int i;

	(void)state;
	for (attempt = 0; attempt < 12; attempt++) {
		c = retry_ceiling_ms(&policy, attempt);
		assert_int_equal(retry_backoff_ms(&policy, attempt, 0), 0);
		assert_int_equal(retry_backoff_ms(&policy, attempt, c), c);
		assert_true(retry_backoff_ms(&policy, attempt, UINT64_MAX) <=
			    c);
		for (i = 0; i < 1000; i++) {
			assert_int_equal(crypto_random_u64(&rnd), 0);
			assert_true(retry_backoff_ms(&policy, attempt, rnd) <=
				    c);
		}
	}
}

/* Random draws spread over the whole range rather than sticking to one
 * value (the odds of this failing by chance are below 1e-100). */
static void
test_backoff_jittered(void **state)
{
	uint64_t rnd, d, lo = UINT64_MAX, hi = 0, c;
	unsigned low_quarter = 0, high_quarter = 0;
	int i;

	(void)state;
	c = retry_ceiling_ms(&policy, 5); /* 32000 */
	for (i = 0; i < 2000; i++) {
		assert_int_equal(crypto_random_u64(&rnd), 0);
		d = retry_backoff_ms(&policy, 5, rnd);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		low_quarter += d < c / 4;
		high_quarter += d > 3 * c / 4;
	}
	assert_true(lo < c / 10);
	assert_true(hi > c - c / 10);
	assert_true(low_quarter > 300 && low_quarter < 700);
	assert_true(high_quarter > 300 && high_quarter < 700);
}

static void
test_retry_after_wins_but_is_capped(void **state)
{
	(void)state;
	assert_int_equal(retry_delay_ms(&policy, 0, 5, UINT64_MAX), 5000);
	assert_int_equal(retry_delay_ms(&policy, 9, 0, UINT64_MAX), 0);
	assert_int_equal(retry_delay_ms(&policy, 0, 3600, 0), 60000);
	assert_int_equal(retry_delay_ms(&policy, 0, INT64_MAX, 0), 60000);
	/* without one: the jittered backoff */
	assert_int_equal(retry_delay_ms(&policy, 2, -1, 4000), 4000);
	assert_int_equal(retry_delay_ms(&policy, 2, -1, 4001), 0);
}

static void
test_retry_after_parse(void **state)
{
	time_t now = 1764025291; /* Mon, 24 Nov 2025 23:01:31 GMT */
	int64_t s = -1;

	(void)state;
	assert_int_equal(retry_after_parse("5", now, &s), 0);
	assert_int_equal(s, 5);
	assert_int_equal(retry_after_parse("0", now, &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(
		retry_after_parse("Mon, 24 Nov 2025 23:02:01 GMT", now, &s), 0);
	assert_int_equal(s, 30);
	/* a date in the past means now */
	assert_int_equal(
		retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now, &s), 0);
	assert_int_equal(s, 0);
	s = 77;
	assert_int_equal(retry_after_parse("", now, &s), -EINVAL);
	assert_int_equal(retry_after_parse("-1", now, &s), -EINVAL);
	assert_int_equal(retry_after_parse("5s", now, &s), -EINVAL);
	assert_int_equal(retry_after_parse("1.5", now, &s), -EINVAL);
	assert_int_equal(retry_after_parse("soon", now, &s), -EINVAL);
	assert_int_equal(retry_after_parse("99999999999999999999", now, &s),
			 -ERANGE);
	assert_int_equal(s, 77); /* untouched on failure */
}

static void
test_attempt_budget(void **state)
{
	struct retry_policy p = policy;

	(void)state;
	p.attempts = 3;
	assert_true(retry_may_continue(&p, 1));
	assert_true(retry_may_continue(&p, 2));
	assert_false(retry_may_continue(&p, 3));
	p.attempts = 0;
	assert_true(retry_may_continue(&p, 1000000));
}

static void
test_classify(void **state)
{
	static const long refused[] = {400, 401, 403, 404, 405,
				       409, 413, 415, 422};
	static const long retry[] = {408, 429, 500, 502, 503, 504};
	static const long odd[] = {0, 100, 201, 204, 301, 302, 304};
	size_t i;

	(void)state;
	assert_int_equal(retry_classify_status(200), HTTP_VERDICT_OK);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_equal(retry_classify_status(refused[i]),
				 HTTP_VERDICT_REFUSED);
	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		assert_int_equal(retry_classify_status(retry[i]),
				 HTTP_VERDICT_RETRY);
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_int_equal(retry_classify_status(odd[i]),
				 HTTP_VERDICT_UNEXPECTED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceiling_doubles_then_caps),
		cmocka_unit_test(test_backoff_bounded),
		cmocka_unit_test(test_backoff_jittered),
		cmocka_unit_test(test_retry_after_wins_but_is_capped),
		cmocka_unit_test(test_retry_after_parse),
		cmocka_unit_test(test_attempt_budget),
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests_name("enrolld-retry", tests, NULL, NULL);
}
