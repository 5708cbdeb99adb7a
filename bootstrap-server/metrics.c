/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdio.h>

#include "db.h"
#include "macro.h"
#include "metrics.h"

static const char *const results[] = {
	"ok",		   "repeat",	      "bad_request",
	"invalid_token",   "token_expired",   "token_revoked",
	"token_exhausted", "node_revoked",    "name_conflict",
	"csr_rejected",	   "rate_limited",    "unavailable",
	"too_large",	   "other",
};
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,	0.1,	0.25,  0.5,  1.0};

struct metrics {
	uint64_t enrollments[ELEMENTSOF(results)];
	uint64_t latency_bucket[ELEMENTSOF(buckets)];
	uint64_t latency_count;
	double latency_sum;
	uint64_t status[6]; /* by first digit: 1xx..5xx */
};

struct metrics *
metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

void
metrics_enrollment(struct metrics *m, const char *result, double seconds)
{
	size_t i, idx = ELEMENTSOF(results) - 1;

	for (i = 0; i < ELEMENTSOF(results); i++)
		if (streq(result, results[i]))
			idx = i;
	m->enrollments[idx]++;
	for (i = 0; i < ELEMENTSOF(buckets); i++)
		if (seconds <= buckets[i])
			m->latency_bucket[i]++;
	m->latency_count++;
	m->latency_sum += seconds;
}

void
metrics_request(struct metrics *m, int status)
{
	if (status >= 100 && status < 600)
		m->status[status / 100]++;
}

int
metrics_render(struct metrics *m, sqlite3 *db, int64_t now,
	       unsigned connections, char **ret, size_t *ret_len)
{
	unsigned tokens[_DB_TOKEN_STATE_MAX];
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;
	int r;

	r = db_token_state_counts(db, now, tokens);
	if (r < 0)
		return r;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs("# HELP geostage_enrollments_total Enrollment requests by "
	      "result.\n# TYPE geostage_enrollments_total counter\n",
	      f);
	for (i = 0; i < ELEMENTSOF(results); i++)
		fprintf(f, "geostage_enrollments_total{result=\"%s\"} %llu\n",
			results[i], (unsigned long long)m->enrollments[i]);
	fputs("# HELP geostage_enrollment_duration_seconds Time to answer an "
	      "enrollment.\n# TYPE geostage_enrollment_duration_seconds "
	      "histogram\n",
	      f);
	for (i = 0; i < ELEMENTSOF(buckets); i++)
		fprintf(f,
			"geostage_enrollment_duration_seconds_bucket{le=\"%g\"}"
			" %llu\n",
			buckets[i], (unsigned long long)m->latency_bucket[i]);
	fprintf(f,
		"geostage_enrollment_duration_seconds_bucket{le=\"+Inf\"} "
		"%llu\ngeostage_enrollment_duration_seconds_sum %.6f\n"
		"geostage_enrollment_duration_seconds_count %llu\n",
		(unsigned long long)m->latency_count, m->latency_sum,
		(unsigned long long)m->latency_count);
	fputs("# HELP geostage_tokens Enrollment tokens by state.\n"
	      "# TYPE geostage_tokens gauge\n",
	      f);
	for (i = 0; i < _DB_TOKEN_STATE_MAX; i++)
		fprintf(f, "geostage_tokens{state=\"%s\"} %u\n",
			db_token_state_to_string((enum db_token_state)i),
			tokens[i]);
	fprintf(f,
		"# HELP geostage_nodes Enrolled nodes, not revoked.\n"
		"# TYPE geostage_nodes gauge\ngeostage_nodes %u\n"
		"# HELP geostage_connections Open HTTPS connections.\n"
		"# TYPE geostage_connections gauge\n"
		"geostage_connections %u\n"
		"# HELP geostage_http_responses_total Responses by status "
		"class.\n# TYPE geostage_http_responses_total counter\n",
		db_nodes_active_count(db), connections);
	for (i = 1; i < 6; i++)
		fprintf(f, "geostage_http_responses_total{code=\"%zuxx\"} %llu\n",
			i, (unsigned long long)m->status[i]);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
