/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition for GET /metrics. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* result: "ok", "repeat" or an error code from docs/PROTOCOL.md. */
void metrics_enrollment(struct metrics *m, const char *result,
			double seconds);
void metrics_request(struct metrics *m, int status);
/* Renders every metric; token gauges are read from the database. */
int metrics_render(struct metrics *m, sqlite3 *db, int64_t now,
		   unsigned connections, char **ret, size_t *ret_len);
