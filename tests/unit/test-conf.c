/* SPDX-License-Identifier: MIT */
/* lib/conf: "key = value" files, their syntax errors with line numbers,
 * and their bounds. conf_parse_file reads real files in a temp dir. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>

#include "conf.h"
#include "macro.h"

#define MAX_SEEN 16

struct seen {
	size_t n;
	char *key[MAX_SEEN];
	char *value[MAX_SEEN];
	unsigned line[MAX_SEEN];
	const char *stop_at; /* key whose callback fails with -ENOKEY */
};

static int
collect(const char *key, const char *value, unsigned line, void *userdata)
{
	struct seen *s = userdata;

	if (s->stop_at && streq(key, s->stop_at))
		return -ENOKEY;
	if (s->n >= MAX_SEEN)
		return -E2BIG;
	s->key[s->n] = strdup(key);
	s->value[s->n] = strdup(value);
	s->line[s->n] = line;
	s->n++;
	return 0;
}

static int
setup_seen(void **state)
{
	struct seen *s = calloc(1, sizeof(*s));

	*state = s;
	return s ? 0 : -1;
}

static int
teardown_seen(void **state)
{
	struct seen *s = *state;
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->key[i]);
		free(s->value[i]);
	}
	free(s);
	return 0;
}

static int
parse(struct seen *s, const char *text, unsigned *line)
{
	return conf_parse(text, strlen(text), collect, s, line);
}

static void
assert_pair(struct seen *s, size_t i, const char *key, const char *value,
	    unsigned line)
{
	assert_true(i < s->n);
	assert_string_equal(s->key[i], key);
	assert_string_equal(s->value[i], value);
	assert_int_equal(s->line[i], line);
}

static void
assert_syntax_error_at(const char *text, unsigned expect_line)
{
	struct seen s = {0};
	unsigned line = 0;
	int r = parse(&s, text, &line);
	size_t i;

	for (i = 0; i < s.n; i++) {
		free(s.key[i]);
		free(s.value[i]);
	}
	if (r != -EINVAL || line != expect_line)
		fail_msg("\"%s\": r=%d line=%u, want -EINVAL at line %u", text,
			 r, line, expect_line);
}

/* --- good files ------------------------------------------------------- */

static void
test_parse_good_file(void **state)
{
	struct seen *s = *state;
	unsigned line = 999;
	const char *text = "# geostage.conf\n"
			   "\n"
			   "listen = 0.0.0.0:8443\n"
			   "  ; another comment style\n"
			   "\tdata-dir=/var/lib/geostage\n"
			   "name = \"with spaces inside\"   \n"
			   "empty =\n"
			   "quoted_empty = \"\"\n"
			   "eq = a=b=c\n"
			   "hash = value # not a comment\n"
			   "last.key=no-newline-at-end";

	assert_int_equal(parse(s, text, &line), 0);
	assert_int_equal(s->n, 8);
	assert_pair(s, 0, "listen", "0.0.0.0:8443", 3);
	assert_pair(s, 1, "data-dir", "/var/lib/geostage", 5);
	assert_pair(s, 2, "name", "with spaces inside", 6);
	assert_pair(s, 3, "empty", "", 7);
	assert_pair(s, 4, "quoted_empty", "", 8);
	assert_pair(s, 5, "eq", "a=b=c", 9);
	assert_pair(s, 6, "hash", "value # not a comment", 10);
	assert_pair(s, 7, "last.key", "no-newline-at-end", 11);
	/* ret_line is for errors only. */
	assert_int_equal(line, 999);
}

static void
test_parse_crlf_line_endings(void **state)
{
	struct seen *s = *state;

	assert_int_equal(parse(s, "a = 1\r\nb = \"two\"\r\n\r\n", NULL), 0);
	assert_int_equal(s->n, 2);
	assert_pair(s, 0, "a", "1", 1);
	assert_pair(s, 1, "b", "two", 2);
}

static void
test_parse_empty_and_comment_only(void **state)
{
	struct seen *s = *state;

	assert_int_equal(conf_parse("", 0, collect, s, NULL), 0);
	assert_int_equal(parse(s, "\n\n# x\n;y\n   \n", NULL), 0);
	assert_int_equal(s->n, 0);
}

static void
test_parse_only_len_bytes(void **state)
{
	struct seen *s = *state;
	const char *text = "a = 1\nb = 2\n";

	assert_int_equal(conf_parse(text, 6, collect, s, NULL), 0);
	assert_int_equal(s->n, 1);
	assert_pair(s, 0, "a", "1", 1);
}

/* --- syntax errors ---------------------------------------------------- */

static void
test_missing_equals_reports_line(void **state)
{
	assert_syntax_error_at("a = 1\n# c\nlisten 8443\nb = 2\n", 3);
}

static void
test_bad_key_reports_line(void **state)
{
	assert_syntax_error_at("a = 1\nListen = x\n", 2);
	assert_syntax_error_at("a b = c\n", 1);
	assert_syntax_error_at("\n\n= value\n", 3);
	assert_syntax_error_at("k\xc3\xa9y = v\n", 1);
	assert_syntax_error_at("a/b = v\n", 1);
	assert_syntax_error_at("[section]\n", 1);
}

static void
test_bad_quotes_report_line(void **state)
{
	assert_syntax_error_at("a = 1\nb = \"unterminated\n", 2);
	assert_syntax_error_at("b = \"\n", 1);
	assert_syntax_error_at("a = 1\n\nb = \"x\"y\"\n", 3);
	assert_syntax_error_at("b = \"a\" \"b\"\n", 1);
}

static void
test_line_of_1024_ok_1025_refused(void **state)
{
	struct seen *s = *state;
	char text[CONF_LINE_MAX + 16];
	unsigned line = 0;

	/* "k = " and a value filling the line to exactly CONF_LINE_MAX. */
	memset(text, 'v', sizeof(text));
	memcpy(text, "k = ", 4);
	text[CONF_LINE_MAX] = '\0';
	assert_int_equal(parse(s, text, NULL), 0);
	assert_int_equal(strlen(s->value[0]), CONF_LINE_MAX - 4);

	memset(text, 'v', sizeof(text));
	memcpy(text, "a=1\n", 4);
	memcpy(text + 4, "k = ", 4);
	text[4 + CONF_LINE_MAX + 1] = '\0';
	assert_int_equal(parse(s, text, &line), -EINVAL);
	assert_int_equal(line, 2);
}

static void
test_overlong_comment_line_refused(void **state)
{
	struct seen *s = *state;
	char text[2 * CONF_LINE_MAX];
	unsigned line = 0;

	memset(text, 'c', sizeof(text));
	text[0] = '#';
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(parse(s, text, &line), -EINVAL);
	assert_int_equal(line, 1);
}

static void
test_nul_in_text_refused_with_line(void **state)
{
	struct seen *s = *state;
	static const char text[] = "a = 1\nb = x\0y\nc = 3\n";
	static const char in_comment[] = "# \0\na = 1\n";
	unsigned line = 0;

	assert_int_equal(conf_parse(text, sizeof(text) - 1, collect, s, &line),
			 -EINVAL);
	assert_int_equal(line, 2);
	/* b and c were never reported. */
	assert_int_equal(s->n, 1);
	assert_int_equal(conf_parse(in_comment, sizeof(in_comment) - 1, collect,
				    s, &line),
			 -EINVAL);
	assert_int_equal(line, 1);
}

static void
test_text_over_64_kib_refused(void **state)
{
	struct seen *s = *state;
	_cleanup_free_ char *text = malloc(CONF_FILE_MAX + 1);
	size_t i;

	assert_non_null(text);
	/* Comment lines of 64 bytes. */
	for (i = 0; i < CONF_FILE_MAX + 1; i++)
		text[i] = i % 64 == 63 ? '\n' : '#';
	assert_int_equal(conf_parse(text, CONF_FILE_MAX, collect, s, NULL), 0);
	assert_int_equal(conf_parse(text, CONF_FILE_MAX + 1, collect, s, NULL),
			 -EFBIG);
}

/* --- callback errors -------------------------------------------------- */

static void
test_callback_error_stops_parsing_with_line(void **state)
{
	struct seen *s = *state;
	unsigned line = 0;

	s->stop_at = "unknown";
	assert_int_equal(parse(s, "a = 1\n\n# c\nunknown = 2\nb = 3\n", &line),
			 -ENOKEY);
	assert_int_equal(line, 4);
	assert_int_equal(s->n, 1);
	assert_pair(s, 0, "a", "1", 1);
}

static void
test_error_with_null_ret_line(void **state)
{
	struct seen *s = *state;

	assert_int_equal(parse(s, "bad line\n", NULL), -EINVAL);
}

/* --- conf_parse_file -------------------------------------------------- */

static char tmpdir[] = "/tmp/geostage-test-conf.XXXXXX";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup_dir(void **state)
{
	strcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return setup_seen(state);
}

static int
teardown_dir(void **state)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return teardown_seen(state);
}

static char *
path_in_tmpdir(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static void
write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_parse_file_reads_real_file(void **state)
{
	struct seen *s = *state;
	_cleanup_free_ char *path = path_in_tmpdir("geostage.conf");
	unsigned line = 0;

	write_text(path, "# x\nsite = tokyo\n", 17);
	assert_int_equal(conf_parse_file(path, collect, s, &line), 0);
	assert_pair(s, 0, "site", "tokyo", 2);
	write_text(path, "site = tokyo\nsite tokyo\n", 24);
	assert_int_equal(conf_parse_file(path, collect, s, &line), -EINVAL);
	assert_int_equal(line, 2);
}

static void
test_parse_file_missing_reports_line_0(void **state)
{
	struct seen *s = *state;
	_cleanup_free_ char *path = path_in_tmpdir("absent.conf");
	unsigned line = 7;

	assert_int_equal(conf_parse_file(path, collect, s, &line), -ENOENT);
	assert_int_equal(line, 0);
}

static void
test_parse_file_refuses_symlink(void **state)
{
	struct seen *s = *state;
	_cleanup_free_ char *real = path_in_tmpdir("real.conf"),
			    *link = path_in_tmpdir("link.conf");

	write_text(real, "a = 1\n", 6);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(conf_parse_file(link, collect, s, NULL), -ELOOP);
	assert_int_equal(s->n, 0);
}

static void
test_parse_file_over_64_kib_refused(void **state)
{
	struct seen *s = *state;
	_cleanup_free_ char *path = path_in_tmpdir("big.conf");
	_cleanup_free_ char *text = malloc(CONF_FILE_MAX + 1);

	assert_non_null(text);
	memset(text, '\n', CONF_FILE_MAX + 1);
	write_text(path, text, CONF_FILE_MAX + 1);
	assert_int_equal(conf_parse_file(path, collect, s, NULL), -EFBIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_seen, teardown_seen)
#define TD(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
		T(test_parse_good_file),
		T(test_parse_crlf_line_endings),
		T(test_parse_empty_and_comment_only),
		T(test_parse_only_len_bytes),
		T(test_missing_equals_reports_line),
		T(test_bad_key_reports_line),
		T(test_bad_quotes_report_line),
		T(test_line_of_1024_ok_1025_refused),
		T(test_overlong_comment_line_refused),
		T(test_nul_in_text_refused_with_line),
		T(test_text_over_64_kib_refused),
		T(test_callback_error_stops_parsing_with_line),
		T(test_error_with_null_ret_line),
		TD(test_parse_file_reads_real_file),
		TD(test_parse_file_missing_reports_line_0),
		TD(test_parse_file_refuses_symlink),
		TD(test_parse_file_over_64_kib_refused),
#undef T
#undef TD
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
