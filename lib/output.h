/* SPDX-License-Identifier: MIT */
/* What list/show commands print: an aligned table for people, JSON for
 * scripts. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct table;

/* columns: header names; rows are added as arrays of strings. */
struct table *table_new(const char *const *columns, size_t n_columns);
int table_add_row(struct table *t, const char *const *cells);
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* Pretty JSON (indent 2) on stdout with a trailing newline. */
int json_print(json_t *j);

/* "3m12s", "450ms" ... for human tables. */
void format_duration_ms(long long ms, char *buf, size_t size);
/* "2026-11-24 23:01:31Z" for unix seconds; "-" for 0. */
void format_time(long long t, char *buf, size_t size);
