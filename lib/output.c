/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <time.h>

#include "macro.h"
#include "output.h"

struct table {
	size_t n_columns;
	size_t n_rows;
	char **cells; /* (n_rows + 1) * n_columns, row 0 is the header */
	size_t *width;
};

struct table *
table_new(const char *const *columns, size_t n_columns)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_columns = n_columns;
	t->width = calloc(n_columns, sizeof(size_t));
	if (!t->width || table_add_row(t, columns) < 0) {
		table_free(t);
		return NULL;
	}
	return t;
}

int
table_add_row(struct table *t, const char *const *cells)
{
	size_t i, rows = t->n_rows + (t->cells ? 1 : 0);
	char **c;

	c = realloc(t->cells, (rows + 1) * t->n_columns * sizeof(char *));
	if (!c)
		return -ENOMEM;
	t->cells = c;
	for (i = 0; i < t->n_columns; i++) {
		c[rows * t->n_columns + i] = strdup(cells[i] ? cells[i] : "-");
		if (!c[rows * t->n_columns + i]) {
			while (i-- > 0)
				free(c[rows * t->n_columns + i]);
			return -ENOMEM;
		}
	}
	for (i = 0; i < t->n_columns; i++)
		t->width[i] = MAX(t->width[i],
				  strlen(c[rows * t->n_columns + i]));
	if (rows > 0)
		t->n_rows++;
	return 0;
}

void
table_print(struct table *t, FILE *f)
{
	size_t r, i;

	for (r = 0; r <= t->n_rows; r++) {
		for (i = 0; i < t->n_columns; i++) {
			const char *s = t->cells[r * t->n_columns + i];
			if (i + 1 == t->n_columns)
				fprintf(f, "%s", s);
			else
				fprintf(f, "%-*s  ", (int)t->width[i], s);
		}
		fputc('\n', f);
	}
}

void
table_free(struct table *t)
{
	size_t i, rows;

	if (!t)
		return;
	rows = t->cells ? t->n_rows + 1 : 0;
	for (i = 0; i < rows * t->n_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

int
json_print(json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		return -EIO;
	fputc('\n', stdout);
	return 0;
}

void
format_duration_ms(long long ms, char *buf, size_t size)
{
	if (ms < 0)
		snprintf(buf, size, "-");
	else if (ms < 1000)
		snprintf(buf, size, "%lldms", ms);
	else if (ms < 60000)
		snprintf(buf, size, "%lld.%llds", ms / 1000, (ms % 1000) / 100);
	else if (ms < 3600000)
		snprintf(buf, size, "%lldm%02llds", ms / 60000,
			 (ms % 60000) / 1000);
	else if (ms < 86400000)
		snprintf(buf, size, "%lldh%02lldm", ms / 3600000,
			 (ms % 3600000) / 60000);
	else
		snprintf(buf, size, "%lldd%02lldh", ms / 86400000,
			 (ms % 86400000) / 3600000);
}

void
format_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "-");
}
