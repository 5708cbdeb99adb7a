/* SPDX-License-Identifier: MIT */
/* lib/output: aligned tables, JSON on stdout, durations and times. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "macro.h"
#include "output.h"

/* Prints t into a string. */
static char *
table_to_string(struct table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	table_print(t, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* --- table ------------------------------------------------------------ */

static void
test_table_aligns_columns_to_widest_cell(void **state)
{
	static const char *const cols[] = {"NAME", "SITE", "AGE"};
	static const char *const r1[] = {"worker-7", "tokyo", "3m12s"};
	static const char *const r2[] = {"a", "osaka-north", "1s"};
	struct table *t = table_new(cols, 3);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, r1), 0);
	assert_int_equal(table_add_row(t, r2), 0);
	out = table_to_string(t);
	table_free(t);
	assert_string_equal(out, "NAME      SITE         AGE\n"
				 "worker-7  tokyo        3m12s\n"
				 "a         osaka-north  1s\n");
}

static void
test_table_header_wider_than_cells(void **state)
{
	static const char *const cols[] = {"IDENTIFIER", "X"};
	static const char *const r1[] = {"a", "b"};
	struct table *t = table_new(cols, 2);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, r1), 0);
	out = table_to_string(t);
	table_free(t);
	assert_string_equal(out, "IDENTIFIER  X\n"
				 "a           b\n");
}

static void
test_table_null_cell_prints_dash(void **state)
{
	static const char *const cols[] = {"NAME", "ADDRESS", "SEEN"};
	static const char *const r1[] = {"n1", NULL, "now"};
	struct table *t = table_new(cols, 3);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, r1), 0);
	out = table_to_string(t);
	table_free(t);
	assert_string_equal(out, "NAME  ADDRESS  SEEN\n"
				 "n1    -        now\n");
}

static void
test_table_last_column_not_padded(void **state)
{
	static const char *const cols[] = {"A", "LONG-LAST"};
	static const char *const r1[] = {"1", "x"};
	struct table *t = table_new(cols, 2);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, r1), 0);
	out = table_to_string(t);
	table_free(t);
	assert_null(strstr(out, " \n"));
}

static void
test_table_header_only(void **state)
{
	static const char *const cols[] = {"NAME", "SITE"};
	struct table *t = table_new(cols, 2);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	out = table_to_string(t);
	table_free(t);
	assert_string_equal(out, "NAME  SITE\n");
}

static void
test_table_copies_cells(void **state)
{
	static const char *const cols[] = {"NAME"};
	char cell[8] = "before";
	const char *row[] = {cell};
	struct table *t = table_new(cols, 1);
	_cleanup_free_ char *out = NULL;

	assert_non_null(t);
	assert_int_equal(table_add_row(t, row), 0);
	strcpy(cell, "after");
	out = table_to_string(t);
	table_free(t);
	assert_string_equal(out, "NAME\nbefore\n");
}

static void
test_table_many_rows(void **state)
{
	static const char *const cols[] = {"N", "V"};
	struct table *t = table_new(cols, 2);
	_cleanup_free_ char *out = NULL;
	char n[16];
	const char *row[] = {n, "v"};
	size_t lines = 0;
	const char *p;
	int i;

	assert_non_null(t);
	for (i = 0; i < 1000; i++) {
		snprintf(n, sizeof(n), "%d", i);
		assert_int_equal(table_add_row(t, row), 0);
	}
	out = table_to_string(t);
	table_free(t);
	for (p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 1001);
	assert_non_null(strstr(out, "\n999  v\n"));
	assert_non_null(strstr(out, "\n0    v\n"));
}

static void
test_table_free_accepts_null(void **state)
{
	table_free(NULL);
}

/* --- json_print ------------------------------------------------------- */

static void
test_json_print_sorted_indented_with_newline(void **state)
{
	_cleanup_(fclosep) FILE *f = tmpfile();
	json_t *j = json_pack("{s:i, s:s}", "b", 1, "a", "x");
	char buf[128] = {0};
	int saved;

	assert_non_null(f);
	assert_non_null(j);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDOUT_FILENO) >= 0);
	assert_int_equal(json_print(j), 0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	json_decref(j);
	rewind(f);
	assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	assert_string_equal(buf, "{\n  \"a\": \"x\",\n  \"b\": 1\n}\n");
}

/* --- format_duration_ms ----------------------------------------------- */

static void
assert_duration(long long ms, const char *expect)
{
	char buf[32];

	memset(buf, 'X', sizeof(buf));
	format_duration_ms(ms, buf, sizeof(buf));
	if (!streq(buf, expect))
		fail_msg("format_duration_ms(%lld) = \"%s\", want \"%s\"", ms,
			 buf, expect);
}

static void
test_duration_milliseconds(void **state)
{
	assert_duration(0, "0ms");
	assert_duration(1, "1ms");
	assert_duration(450, "450ms");
	assert_duration(999, "999ms");
}

static void
test_duration_seconds_with_one_decimal(void **state)
{
	assert_duration(1000, "1.0s");
	assert_duration(1500, "1.5s");
	assert_duration(1999, "1.9s");
	assert_duration(59999, "59.9s");
}

static void
test_duration_minutes_and_seconds(void **state)
{
	assert_duration(60000, "1m00s");
	assert_duration(192000, "3m12s");
	assert_duration(3599999, "59m59s");
	assert_duration(3600000, "1h00m");
	assert_duration(90061000, "1d01h");
}

static void
test_duration_negative_is_dash(void **state)
{
	assert_duration(-1, "-");
	assert_duration(-60000, "-");
}

static void
test_duration_small_buffer_is_terminated(void **state)
{
	char buf[8];

	memset(buf, 'X', sizeof(buf));
	format_duration_ms(192000, buf, 3);
	assert_string_equal(buf, "3m");
}

/* --- format_time ------------------------------------------------------ */

static void
assert_time(long long t, const char *expect)
{
	char buf[64];

	memset(buf, 'X', sizeof(buf));
	format_time(t, buf, sizeof(buf));
	if (!streq(buf, expect))
		fail_msg("format_time(%lld) = \"%s\", want \"%s\"", t, buf,
			 expect);
}

static void
test_time_utc_with_z(void **state)
{
	/* date -u -d @1764025291 '+%Y-%m-%d %H:%M:%SZ' */
	assert_time(1764025291, "2025-11-24 23:01:31Z");
	assert_time(1, "1970-01-01 00:00:01Z");
	assert_time(86400, "1970-01-02 00:00:00Z");
	assert_time(951782400, "2000-02-29 00:00:00Z");
}

static void
test_time_zero_or_negative_is_dash(void **state)
{
	assert_time(0, "-");
	assert_time(-1, "-");
}

static void
test_time_ignores_tz(void **state)
{
	char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	assert_time(1764025291, "2025-11-24 23:01:31Z");
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

/* Like format_duration_ms (snprintf), a buffer too small for the time
 * must still hold a terminated string, not strftime's undefined bytes. */
static void
test_time_small_buffer_is_terminated(void **state)
{
	char buf[32];

	memset(buf, 'X', sizeof(buf));
	format_time(1764025291, buf, 10);
	if (!memchr(buf, '\0', 10))
		fail_msg("no NUL in the 10-byte buffer: \"%.10s\"", buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_aligns_columns_to_widest_cell),
		cmocka_unit_test(test_table_header_wider_than_cells),
		cmocka_unit_test(test_table_null_cell_prints_dash),
		cmocka_unit_test(test_table_last_column_not_padded),
		cmocka_unit_test(test_table_header_only),
		cmocka_unit_test(test_table_copies_cells),
		cmocka_unit_test(test_table_many_rows),
		cmocka_unit_test(test_table_free_accepts_null),
		cmocka_unit_test(test_json_print_sorted_indented_with_newline),
		cmocka_unit_test(test_duration_milliseconds),
		cmocka_unit_test(test_duration_seconds_with_one_decimal),
		cmocka_unit_test(test_duration_minutes_and_seconds),
		cmocka_unit_test(test_duration_negative_is_dash),
		cmocka_unit_test(test_duration_small_buffer_is_terminated),
		cmocka_unit_test(test_time_utc_with_z),
		cmocka_unit_test(test_time_zero_or_negative_is_dash),
		cmocka_unit_test(test_time_ignores_tz),
		cmocka_unit_test(test_time_small_buffer_is_terminated),
	};

	return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
