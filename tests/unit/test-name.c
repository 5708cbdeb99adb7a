/* SPDX-License-Identifier: MIT */
/* lib/name: node and site names (RFC 1123 labels, reserved words, names
 * proposed from hostnames) and Kubernetes label syntax. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "macro.h"
#include "name.h"

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

#define assert_label(s) assert_true(name_is_dns_label(s))
#define assert_not_label(s) assert_false(name_is_dns_label(s))

/* --- name_is_dns_label ------------------------------------------------ */

static void
test_dns_label_accepts_lowercase_digits_and_inner_dash(void **state)
{
	assert_label("a");
	assert_label("0");
	assert_label("worker-7");
	assert_label("7-worker");
	assert_label("a--b");
	assert_label("tokyo");
}

static void
test_dns_label_accepts_63_refuses_64(void **state)
{
	_cleanup_free_ char *l63 = repeat('a', 63), *l64 = repeat('a', 64);

	assert_label(l63);
	assert_not_label(l64);
}

static void
test_dns_label_refuses_empty_and_null(void **state)
{
	assert_not_label("");
	assert_not_label(NULL);
}

static void
test_dns_label_refuses_path_tricks(void **state)
{
	assert_not_label("../x");
	assert_not_label("..");
	assert_not_label(".");
	assert_not_label("a/b");
	assert_not_label("/etc");
	assert_not_label("a\\b");
}

static void
test_dns_label_refuses_uppercase(void **state)
{
	assert_not_label("DEFAULT");
	assert_not_label("Default");
	assert_not_label("workeR");
}

static void
test_dns_label_refuses_leading_or_trailing_dash(void **state)
{
	assert_not_label("-");
	assert_not_label("-a");
	assert_not_label("a-");
	assert_not_label("--");
}

static void
test_dns_label_refuses_other_bytes(void **state)
{
	assert_not_label("a.b");
	assert_not_label("a_b");
	assert_not_label("a b");
	assert_not_label(" a");
	assert_not_label("a\n");
	assert_not_label("a\x7f");
	assert_not_label("a:b");
	assert_not_label("a@b");
	assert_not_label("a%00");
}

static void
test_dns_label_refuses_utf8(void **state)
{
	assert_not_label("caf\xc3\xa9");
	assert_not_label("\xe6\x9d\xb1\xe4\xba\xac"); /* Tokyo in kanji */
	assert_not_label("\xc3\xa9");
	/* Fullwidth 'a' looks like ASCII. */
	assert_not_label("\xef\xbd\x81");
}

static void
test_dns_label_default_is_valid_syntax_but_reserved(void **state)
{
	assert_label("default");
	assert_true(name_is_reserved("default"));
}

/* --- name_is_reserved ------------------------------------------------- */

static void
test_reserved_names_from_protocol(void **state)
{
	assert_true(name_is_reserved("default"));
	assert_true(name_is_reserved("localhost"));
	assert_true(name_is_reserved("none"));
	assert_true(name_is_reserved("all"));
}

static void
test_ordinary_names_not_reserved(void **state)
{
	assert_false(name_is_reserved("node"));
	assert_false(name_is_reserved("worker-7"));
	assert_false(name_is_reserved("defaults"));
	assert_false(name_is_reserved("default-1"));
	assert_false(name_is_reserved("al"));
	assert_false(name_is_reserved(""));
}

/* --- name_from_hostname ----------------------------------------------- */

static void
assert_proposal(const char *hostname, size_t max, const char *expect)
{
	char buf[NAME_MAX_LEN + 1];

	name_from_hostname(hostname, buf, max);
	if (!streq(buf, expect))
		fail_msg(
			"name_from_hostname(\"%s\", %zu) = \"%s\", want \"%s\"",
			strempty(hostname), max, buf, expect);
	/* Every proposal is a usable name. */
	assert_true(name_is_dns_label(buf));
	assert_false(name_is_reserved(buf));
}

static void
test_from_hostname_takes_first_label_lowercased(void **state)
{
	assert_proposal("worker-7.tokyo.example.org", 63, "worker-7");
	assert_proposal("Worker-7.Tokyo.Example.ORG", 63, "worker-7");
	assert_proposal("WEB01", 63, "web01");
}

static void
test_from_hostname_maps_other_bytes_to_dash(void **state)
{
	assert_proposal("web_01", 63, "web-01");
	assert_proposal("web 01", 63, "web-01");
	assert_proposal("a__b", 63, "a-b");
	assert_proposal("a-_-b", 63, "a-b");
	assert_proposal("_a_", 63, "a");
	assert_proposal("--a--", 63, "a");
	assert_proposal("../x", 63, "node");
	assert_proposal("x/../y", 63, "x");
}

static void
test_from_hostname_maps_utf8_to_dash(void **state)
{
	assert_proposal("caf\xc3\xa9-1", 63, "caf-1");
	assert_proposal("\xe6\x9d\xb1\xe4\xba\xac-7", 63, "7");
	assert_proposal("\xe6\x9d\xb1\xe4\xba\xac", 63, "node");
}

static void
test_from_hostname_nothing_usable_gives_node(void **state)
{
	assert_proposal("", 63, "node");
	assert_proposal(NULL, 63, "node");
	assert_proposal("___", 63, "node");
	assert_proposal("-", 63, "node");
	assert_proposal(".example.org", 63, "node");
	assert_proposal("...", 63, "node");
}

static void
test_from_hostname_reserved_gives_node(void **state)
{
	assert_proposal("localhost", 63, "node");
	assert_proposal("localhost.localdomain", 63, "node");
	assert_proposal("DEFAULT.example.org", 63, "node");
	assert_proposal("none", 63, "node");
	assert_proposal("All", 63, "node");
}

static void
test_from_hostname_truncates_to_max(void **state)
{
	_cleanup_free_ char *h100 = repeat('a', 100), *a63 = repeat('a', 63);

	assert_proposal(h100, 63, a63);
	assert_proposal("abcdefghijkl", 10, "abcdefghij");
	assert_proposal("abc", 10, "abc");
}

static void
test_from_hostname_clamps_max_to_63(void **state)
{
	_cleanup_free_ char *h100 = repeat('b', 100), *b63 = repeat('b', 63);
	char buf[128];

	memset(buf, 'X', sizeof(buf));
	name_from_hostname(h100, buf, 100);
	assert_string_equal(buf, b63);
}

static void
test_from_hostname_truncation_drops_trailing_dash(void **state)
{
	assert_proposal("abcd-efgh", 5, "abcd");
	assert_proposal("abcd__efgh", 5, "abcd");
	assert_proposal("abcd__efgh", 6, "abcd-e");
}

static void
test_from_hostname_truncation_to_reserved_gives_node(void **state)
{
	assert_proposal("defaulted", 7, "node");
}

/* "trimmed to at most max bytes": the "node" fallback must not write past
 * max + 1 bytes either. */
static void
test_from_hostname_fallback_respects_small_max(void **state)
{
	char buf[16];
	size_t max;

	for (max = 0; max < 4; max++) {
		memset(buf, 'X', sizeof(buf));
		name_from_hostname("___", buf, max);
		if (memchr(buf, '\0', max + 1) == NULL)
			fail_msg("max %zu: wrote \"%.*s\" past max + 1 bytes",
				 max, (int)strnlen(buf, sizeof(buf)), buf);
	}
}

/* --- label_key_is_valid / label_value_is_valid ------------------------ */

static void
test_label_key_accepts_name_and_prefixed_name(void **state)
{
	assert_true(label_key_is_valid("tier"));
	assert_true(label_key_is_valid("Tier"));
	assert_true(label_key_is_valid("a"));
	assert_true(label_key_is_valid("a.b_c-d"));
	assert_true(label_key_is_valid("app.kubernetes.io/name"));
	assert_true(label_key_is_valid("example.com/Tier_2.x-y"));
	assert_true(label_key_is_valid("example/x"));
}

static void
test_label_key_name_63_ok_64_refused(void **state)
{
	_cleanup_free_ char *n63 = repeat('n', 63), *n64 = repeat('n', 64),
			    *p63 = NULL, *p64 = NULL;

	assert_true(label_key_is_valid(n63));
	assert_false(label_key_is_valid(n64));
	assert_true(asprintf(&p63, "example.com/%s", n63) > 0);
	assert_true(asprintf(&p64, "example.com/%s", n64) > 0);
	assert_true(label_key_is_valid(p63));
	assert_false(label_key_is_valid(p64));
}

static void
test_label_key_prefix_253_ok_254_refused(void **state)
{
	_cleanup_free_ char *l = repeat('p', 63), *k253 = NULL, *k254 = NULL;

	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	assert_true(asprintf(&k253, "%s.%s.%s.%.61s/x", l, l, l, l) > 0);
	assert_true(asprintf(&k254, "%s.%s.%s.%.62s/x", l, l, l, l) > 0);
	assert_int_equal(strchr(k253, '/') - k253, 253);
	assert_true(label_key_is_valid(k253));
	assert_false(label_key_is_valid(k254));
}

static void
test_label_key_prefix_label_over_63_refused(void **state)
{
	_cleanup_free_ char *l64 = repeat('p', 64), *key = NULL;

	assert_true(asprintf(&key, "%s.com/x", l64) > 0);
	assert_false(label_key_is_valid(key));
}

static void
test_label_key_refuses_bad_shapes(void **state)
{
	assert_false(label_key_is_valid(NULL));
	assert_false(label_key_is_valid(""));
	assert_false(label_key_is_valid("/"));
	assert_false(label_key_is_valid("/a"));
	assert_false(label_key_is_valid("a/"));
	assert_false(label_key_is_valid("a/b/c"));
	assert_false(label_key_is_valid("-a"));
	assert_false(label_key_is_valid("a-"));
	assert_false(label_key_is_valid("_a"));
	assert_false(label_key_is_valid(".a"));
	assert_false(label_key_is_valid("a b"));
	assert_false(label_key_is_valid("a=b"));
	assert_false(label_key_is_valid("caf\xc3\xa9"));
}

static void
test_label_key_refuses_bad_prefix(void **state)
{
	assert_false(label_key_is_valid("Example.com/a"));
	assert_false(label_key_is_valid("exa_mple.com/a"));
	assert_false(label_key_is_valid("example..com/a"));
	assert_false(label_key_is_valid(".example.com/a"));
	assert_false(label_key_is_valid("example.com./a"));
	assert_false(label_key_is_valid("-example.com/a"));
	assert_false(label_key_is_valid("ex ample.com/a"));
}

static void
test_label_value_accepts_empty_and_name_syntax(void **state)
{
	_cleanup_free_ char *v63 = repeat('v', 63);

	assert_true(label_value_is_valid(""));
	assert_true(label_value_is_valid("edge"));
	assert_true(label_value_is_valid("Edge_2.a-b"));
	assert_true(label_value_is_valid("0"));
	assert_true(label_value_is_valid(v63));
}

static void
test_label_value_refuses_bad_values(void **state)
{
	_cleanup_free_ char *v64 = repeat('v', 64);

	assert_false(label_value_is_valid(NULL));
	assert_false(label_value_is_valid(v64));
	assert_false(label_value_is_valid("-a"));
	assert_false(label_value_is_valid("a-"));
	assert_false(label_value_is_valid(".a"));
	assert_false(label_value_is_valid("a_"));
	assert_false(label_value_is_valid("a b"));
	assert_false(label_value_is_valid("a/b"));
	assert_false(label_value_is_valid("a=b"));
	assert_false(label_value_is_valid("\xc3\xa9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_dns_label_accepts_lowercase_digits_and_inner_dash),
		cmocka_unit_test(test_dns_label_accepts_63_refuses_64),
		cmocka_unit_test(test_dns_label_refuses_empty_and_null),
		cmocka_unit_test(test_dns_label_refuses_path_tricks),
		cmocka_unit_test(test_dns_label_refuses_uppercase),
		cmocka_unit_test(
			test_dns_label_refuses_leading_or_trailing_dash),
		cmocka_unit_test(test_dns_label_refuses_other_bytes),
		cmocka_unit_test(test_dns_label_refuses_utf8),
		cmocka_unit_test(
			test_dns_label_default_is_valid_syntax_but_reserved),
		cmocka_unit_test(test_reserved_names_from_protocol),
		cmocka_unit_test(test_ordinary_names_not_reserved),
		cmocka_unit_test(
			test_from_hostname_takes_first_label_lowercased),
		cmocka_unit_test(test_from_hostname_maps_other_bytes_to_dash),
		cmocka_unit_test(test_from_hostname_maps_utf8_to_dash),
		cmocka_unit_test(test_from_hostname_nothing_usable_gives_node),
		cmocka_unit_test(test_from_hostname_reserved_gives_node),
		cmocka_unit_test(test_from_hostname_truncates_to_max),
		cmocka_unit_test(test_from_hostname_clamps_max_to_63),
		cmocka_unit_test(
			test_from_hostname_truncation_drops_trailing_dash),
		cmocka_unit_test(
			test_from_hostname_truncation_to_reserved_gives_node),
		cmocka_unit_test(
			test_from_hostname_fallback_respects_small_max),
		cmocka_unit_test(test_label_key_accepts_name_and_prefixed_name),
		cmocka_unit_test(test_label_key_name_63_ok_64_refused),
		cmocka_unit_test(test_label_key_prefix_253_ok_254_refused),
		cmocka_unit_test(test_label_key_prefix_label_over_63_refused),
		cmocka_unit_test(test_label_key_refuses_bad_shapes),
		cmocka_unit_test(test_label_key_refuses_bad_prefix),
		cmocka_unit_test(
			test_label_value_accepts_empty_and_name_syntax),
		cmocka_unit_test(test_label_value_refuses_bad_values),
	};

	return cmocka_run_group_tests_name("name", tests, NULL, NULL);
}
