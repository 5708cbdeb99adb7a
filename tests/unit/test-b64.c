/* SPDX-License-Identifier: MIT */
/* lib/b64: RFC 4648 test vectors, the URL alphabet, and a strict decoder
 * that refuses everything that is not the one canonical unpadded form. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "b64.h"
#include "macro.h"

/* RFC 4648 §10. */
static const struct {
	const char *data, *std, *url;
} vectors[] = {
	{"", "", ""},
	{"f", "Zg==", "Zg"},
	{"fo", "Zm8=", "Zm8"},
	{"foo", "Zm9v", "Zm9v"},
	{"foob", "Zm9vYg==", "Zm9vYg"},
	{"fooba", "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

/* Decodes a C string; asserts nothing. */
static int
decode(const char *s, uint8_t **ret, size_t *ret_len)
{
	return b64url_decode(s, strlen(s), ret, ret_len);
}

static void
assert_decode_refused(const char *s, size_t len)
{
	uint8_t *out = (uint8_t *)"untouched";
	size_t n = 12345;

	if (b64url_decode(s, len, &out, &n) != -EINVAL)
		fail_msg("b64url_decode accepted \"%.*s\" (%zu bytes)",
			 (int)len, s, len);
	/* Out-parameters are written only on success. */
	assert_string_equal((char *)out, "untouched");
	assert_int_equal(n, 12345);
}

static void
test_b64_encode_rfc4648_vectors(void **state)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ char *s = NULL;
		assert_int_equal(b64_encode(vectors[i].data,
					    strlen(vectors[i].data), &s),
				 0);
		assert_string_equal(s, vectors[i].std);
	}
}

static void
test_b64url_encode_rfc4648_vectors_unpadded(void **state)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ char *s = NULL;
		assert_int_equal(b64url_encode(vectors[i].data,
					       strlen(vectors[i].data), &s),
				 0);
		assert_string_equal(s, vectors[i].url);
	}
}

static void
test_b64url_decode_rfc4648_vectors(void **state)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(vectors); i++) {
		_cleanup_free_ uint8_t *out = NULL;
		size_t n = 0;
		assert_int_equal(decode(vectors[i].url, &out, &n), 0);
		assert_int_equal(n, strlen(vectors[i].data));
		assert_memory_equal(out, vectors[i].data, n);
		/* NUL-terminated for convenience, not counted. */
		assert_int_equal(out[n], 0);
	}
}

static void
test_b64_alphabets_differ_only_in_62_and_63(void **state)
{
	static const uint8_t all62[] = {0xfb, 0xef, 0xbe};
	static const uint8_t all63[] = {0xff, 0xff, 0xff};
	_cleanup_free_ char *s62 = NULL, *u62 = NULL, *s63 = NULL, *u63 = NULL;

	assert_int_equal(b64_encode(all62, sizeof(all62), &s62), 0);
	assert_int_equal(b64url_encode(all62, sizeof(all62), &u62), 0);
	assert_int_equal(b64_encode(all63, sizeof(all63), &s63), 0);
	assert_int_equal(b64url_encode(all63, sizeof(all63), &u63), 0);
	assert_string_equal(s62, "++++");
	assert_string_equal(u62, "----");
	assert_string_equal(s63, "////");
	assert_string_equal(u63, "____");
}

static void
test_b64url_decode_url_alphabet(void **state)
{
	_cleanup_free_ uint8_t *out = NULL;
	size_t n;

	assert_int_equal(decode("-_8", &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(out[1], 0xff);
}

static void
test_b64url_round_trip_every_length_and_byte(void **state)
{
	uint8_t data[256];
	size_t len, i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(255 - i);
	for (len = 0; len <= sizeof(data); len++) {
		_cleanup_free_ char *s = NULL;
		_cleanup_free_ uint8_t *out = NULL;
		size_t n = 0;

		assert_int_equal(b64url_encode(data, len, &s), 0);
		assert_int_equal(strlen(s), (len * 4 + 2) / 3);
		assert_int_equal(decode(s, &out, &n), 0);
		assert_int_equal(n, len);
		if (len)
			assert_memory_equal(out, data, len);
	}
}

static void
test_b64url_decode_empty_is_empty(void **state)
{
	_cleanup_free_ uint8_t *out = NULL;
	size_t n = 99;

	assert_int_equal(b64url_decode("", 0, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(out);
	assert_int_equal(out[0], 0);
}

static void
test_b64url_decode_rejects_padding(void **state)
{
	assert_decode_refused("Zg==", 4);
	assert_decode_refused("Zm8=", 4);
	assert_decode_refused("Zg=", 3);
	assert_decode_refused("Zm9vYg==", 8);
	assert_decode_refused("====", 4);
}

static void
test_b64url_decode_rejects_whitespace(void **state)
{
	assert_decode_refused("Zm9v Yg", 7);
	assert_decode_refused("Zm9v\nYg", 7);
	assert_decode_refused("Zm9v\r\nYg", 8);
	assert_decode_refused("\tZm9v", 5);
	assert_decode_refused("Zm9v ", 5);
}

static void
test_b64url_decode_rejects_standard_alphabet(void **state)
{
	assert_decode_refused("+/8", 3);
	assert_decode_refused("////", 4);
	assert_decode_refused("++++", 4);
}

static void
test_b64url_decode_rejects_bad_bytes(void **state)
{
	assert_decode_refused("Zm9*", 4);
	assert_decode_refused("Zm9.", 4);
	assert_decode_refused("Zm9v\x80g", 6);
	assert_decode_refused("Zm9v\xc3\xa9", 6);
	assert_decode_refused("Zm9v\x7f", 5);
	/* An embedded NUL, visible only through the length. */
	assert_decode_refused("Zm\0v", 4);
	assert_decode_refused("Zm9v\0\0", 6);
}

static void
test_b64url_decode_rejects_noncanonical_trailing_bits(void **state)
{
	/* "Zg" is "f"; "Zh".."Zv" carry nonzero bits after the last byte. */
	assert_decode_refused("Zh", 2);
	assert_decode_refused("Zv", 2);
	/* "Zm8" is "fo"; "Zm9" would decode to the same two bytes. */
	assert_decode_refused("Zm9", 3);
	assert_decode_refused("Zm9vYh", 6);
	assert_decode_refused("__", 2);
}

static void
test_b64url_decode_rejects_length_1_mod_4(void **state)
{
	assert_decode_refused("Z", 1);
	assert_decode_refused("A", 1);
	assert_decode_refused("Zm9vY", 5);
	assert_decode_refused("Zm9vYmFyZ", 9);
}

static void
assert_std_decodes(const char *in, const char *want)
{
	uint8_t *out = NULL;
	size_t n = 99;

	assert_int_equal(b64_decode(in, strlen(in), &out, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void
assert_std_refused(const char *in)
{
	uint8_t *out = NULL;
	size_t n = 0;

	if (b64_decode(in, strlen(in), &out, &n) != -EINVAL)
		fail_msg("b64_decode(\"%s\") was not refused", in);
	assert_null(out);
}

/* RFC 4648 §10 vectors with their padding; url bytes, missing or
 * misplaced padding and non-canonical trailing bits refused. */
static void
test_b64_decode_standard_with_padding(void **state)
{
	assert_std_decodes("", "");
	assert_std_decodes("Zg==", "f");
	assert_std_decodes("Zm8=", "fo");
	assert_std_decodes("Zm9v", "foo");
	assert_std_decodes("Zm9vYg==", "foob");
	assert_std_decodes("Zm9vYmE=", "fooba");
	assert_std_decodes("Zm9vYmFy", "foobar");
	assert_std_decodes("+/+/", "\xfb\xff\xbf");
	assert_std_refused("Zg");
	assert_std_refused("Zg=");
	assert_std_refused("Z===");
	assert_std_refused("Zg==Zg==");
	assert_std_refused("-_-_");
	assert_std_refused("Zh==");
	assert_std_refused("Zm 9v");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_encode_rfc4648_vectors),
		cmocka_unit_test(test_b64url_encode_rfc4648_vectors_unpadded),
		cmocka_unit_test(test_b64url_decode_rfc4648_vectors),
		cmocka_unit_test(test_b64_alphabets_differ_only_in_62_and_63),
		cmocka_unit_test(test_b64url_decode_url_alphabet),
		cmocka_unit_test(test_b64url_round_trip_every_length_and_byte),
		cmocka_unit_test(test_b64url_decode_empty_is_empty),
		cmocka_unit_test(test_b64url_decode_rejects_padding),
		cmocka_unit_test(test_b64url_decode_rejects_whitespace),
		cmocka_unit_test(test_b64url_decode_rejects_standard_alphabet),
		cmocka_unit_test(test_b64url_decode_rejects_bad_bytes),
		cmocka_unit_test(
			test_b64url_decode_rejects_noncanonical_trailing_bits),
		cmocka_unit_test(test_b64url_decode_rejects_length_1_mod_4),
		cmocka_unit_test(test_b64_decode_standard_with_padding),
	};

	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
