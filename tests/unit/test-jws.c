/* SPDX-License-Identifier: MIT */
/* lib/jws: compact JWS with Ed25519. Tokens are signed for real with
 * throwaway keys; the hostile ones are crafted here (any header, any
 * payload, a real signature) so that each refusal is for the one reason the
 * test names, not for a broken signature. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64.h"
#include "jws.h"
#include "ossl.h"

#define CLAIMS "{\"jti\":\"abcdefghijklmnopqrstuvwxyz\",\"max\":1}"

struct keys {
	EVP_PKEY *key;	 /* the verifier's key */
	EVP_PKEY *other; /* some other Ed25519 key */
	char *kid;	 /* jws_key_id(key) */
	char *other_kid;
};

static int
setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k->key || !k->other || jws_key_id(k->key, &k->kid) < 0 ||
	    jws_key_id(k->other, &k->other_kid) < 0)
		return -1;
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->other);
	free(k->kid);
	free(k->other_kid);
	free(k);
	return 0;
}

static char *
b64url(const void *data, size_t len)
{
	char *s = NULL;

	assert_int_equal(b64url_encode(data, len, &s), 0);
	return s;
}

/* "h.p.s" with any header and payload bytes, really signed by signer. */
static char *
craft_n(EVP_PKEY *signer, const char *hdr, size_t hdr_len, const char *pl,
	size_t pl_len)
{
	_cleanup_free_ char *h64 = b64url(hdr, hdr_len),
			    *p64 = b64url(pl, pl_len);
	_cleanup_free_ char *input = NULL, *s64 = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char *out;

	assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, signer), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen,
					(unsigned char *)input, strlen(input)),
			 1);
	s64 = b64url(sig, siglen);
	assert_true(asprintf(&out, "%s.%s", input, s64) > 0);
	return out;
}

static char *
craft(EVP_PKEY *signer, const char *hdr, const char *payload)
{
	return craft_n(signer, hdr, strlen(hdr), payload, strlen(payload));
}

/* The header jws_sign writes, for a given kid. */
static char *
good_header(const char *kid)
{
	char *h;

	assert_true(asprintf(&h,
			     "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
			     "\"typ\":\"geostage-enroll+jwt\"}",
			     kid) > 0);
	return h;
}

static void
assert_verify_refused_n(EVP_PKEY *key, const char *jws, size_t len)
{
	json_t *claims = NULL;
	int r = jws_verify(key, jws, len, &claims);

	if (r >= 0)
		fail_msg("jws_verify accepted \"%.*s\"", (int)MIN(len, 300),
			 jws);
	assert_null(claims);
}

static void
assert_verify_refused(EVP_PKEY *key, const char *jws)
{
	assert_verify_refused_n(key, jws, strlen(jws));
}

static void
assert_decode_refused_n(const char *jws, size_t len)
{
	json_t *claims = NULL;
	int r = jws_decode_unverified(jws, len, &claims);

	if (r >= 0)
		fail_msg("jws_decode_unverified accepted \"%.*s\"",
			 (int)MIN(len, 300), jws);
	assert_null(claims);
}

/* Replaces part i (0..2) of a compact JWS. */
static char *
replace_part(const char *jws, int i, const char *part)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	char *out;

	if (i == 0)
		assert_true(asprintf(&out, "%s%s", part, d1) > 0);
	else if (i == 1)
		assert_true(asprintf(&out, "%.*s.%s%s", (int)(d1 - jws), jws,
				     part, d2) > 0);
	else
		assert_true(asprintf(&out, "%.*s.%s", (int)(d2 - jws), jws,
				     part) > 0);
	return out;
}

/* --- the good path ---------------------------------------------------- */

static void
test_sign_verify_round_trip(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;
	_cleanup_(json_decrefp) json_t *claims = NULL, *expect = NULL;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_int_equal(jws_verify(k->key, jws, strlen(jws), &claims), 0);
	expect = json_loads(CLAIMS, 0, NULL);
	assert_true(json_equal(claims, expect));
}

static void
test_sign_writes_the_documented_header(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_(json_decrefp) json_t *hdr = NULL;
	size_t n;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_int_equal(
		b64url_decode(jws, (size_t)(strchr(jws, '.') - jws), &raw, &n),
		0);
	hdr = json_loadb((char *)raw, n, 0, NULL);
	assert_non_null(hdr);
	assert_int_equal(json_object_size(hdr), 3);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
			    "EdDSA");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")),
			    "geostage-enroll+jwt");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
			    k->kid);
}

/* The crafting helper itself makes tokens jws_verify accepts, so the
 * refusals below are about what each test changes. */
static void
test_crafted_token_with_good_header_verifies(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = good_header(k->kid);
	_cleanup_free_ char *jws = craft(k->key, hdr, CLAIMS);
	_cleanup_(json_decrefp) json_t *claims = NULL;

	assert_int_equal(jws_verify(k->key, jws, strlen(jws), &claims), 0);
	assert_non_null(json_object_get(claims, "jti"));
}

static void
test_verify_ignores_bytes_after_len(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *longer = NULL;
	_cleanup_(json_decrefp) json_t *claims = NULL;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_true(asprintf(&longer, "%s.garbage", jws) > 0);
	assert_int_equal(jws_verify(k->key, longer, strlen(jws), &claims), 0);
}

static void
test_sign_refuses_non_ed25519_key(void **state)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *p256 =
		EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char *jws = NULL;

	assert_non_null(p256);
	assert_int_equal(jws_sign(p256, CLAIMS, &jws), -EINVAL);
	assert_null(jws);
}

static void
test_sign_refuses_output_over_max_len(void **state)
{
	struct keys *k = *state;
	char payload[4000];
	char *jws = NULL;

	memset(payload, 'a', sizeof(payload));
	memcpy(payload, "{\"a\":\"", 6);
	memcpy(payload + sizeof(payload) - 3, "\"}", 3);
	assert_int_equal(jws_sign(k->key, payload, &jws), -E2BIG);
	assert_null(jws);
}

/* --- tampering -------------------------------------------------------- */

static void
test_verify_refuses_tampered_payload(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *p64 = NULL, *bad = NULL;
	const char *evil = "{\"jti\":\"abcdefghijklmnopqrstuvwxyz\",\"max\":9}";

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	p64 = b64url(evil, strlen(evil));
	bad = replace_part(jws, 1, p64);
	assert_verify_refused(k->key, bad);
}

static void
test_verify_refuses_tampered_header(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *hdr = NULL, *h64 = NULL, *bad = NULL;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	/* Still a header the verifier would accept, but not the signed one. */
	assert_true(asprintf(&hdr, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}",
			     k->kid) > 0);
	h64 = b64url(hdr, strlen(hdr));
	bad = replace_part(jws, 0, h64);
	assert_verify_refused(k->key, bad);
}

static void
test_verify_refuses_tampered_signature(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *s64 = NULL, *bad = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	size_t n;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_int_equal(b64url_decode(strrchr(jws, '.') + 1,
				       strlen(strrchr(jws, '.') + 1), &sig, &n),
			 0);
	assert_int_equal(n, 64);
	sig[10] ^= 0x01;
	s64 = b64url(sig, n);
	bad = replace_part(jws, 2, s64);
	assert_verify_refused(k->key, bad);
}

static void
test_verify_refuses_truncated_and_extended_signature(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *s63 = NULL, *s65 = NULL,
			    *short_sig = NULL, *long_sig = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	uint8_t buf[65];
	size_t n;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_int_equal(b64url_decode(strrchr(jws, '.') + 1,
				       strlen(strrchr(jws, '.') + 1), &sig, &n),
			 0);
	memcpy(buf, sig, 64);
	buf[64] = 0;
	s63 = b64url(buf, 63);
	s65 = b64url(buf, 65);
	short_sig = replace_part(jws, 2, s63);
	long_sig = replace_part(jws, 2, s65);
	assert_verify_refused(k->key, short_sig);
	assert_verify_refused(k->key, long_sig);
}

/* S + L is the same signature for a lax verifier (RFC 8032 §5.1.7 says
 * refuse): tokens must not be malleable. */
static void
test_verify_refuses_noncanonical_signature_s_plus_l(void **state)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0,    0,    0,	  0,	0,    0,    0,	  0,
		0,    0,    0,	  0,	0,    0,    0,	  0x10,
	};
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *s64 = NULL, *bad = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	unsigned carry = 0;
	size_t n, i;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_int_equal(b64url_decode(strrchr(jws, '.') + 1,
				       strlen(strrchr(jws, '.') + 1), &sig, &n),
			 0);
	for (i = 0; i < 32; i++) {
		unsigned v = sig[32 + i] + L[i] + carry;
		sig[32 + i] = (uint8_t)v;
		carry = v >> 8;
	}
	s64 = b64url(sig, n);
	bad = replace_part(jws, 2, s64);
	assert_verify_refused(k->key, bad);
}

static void
test_verify_refuses_every_single_character_change(void **state)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				    "opqrstuvwxyz0123456789-_";
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;
	size_t i, len;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	len = strlen(jws);
	for (i = 0; i < len; i++) {
		char saved = jws[i];
		/* The next alphabet character, or a dot moved by one. */
		if (saved == '.')
			jws[i] = 'A';
		else
			jws[i] = alpha[(strchr(alpha, saved) - alpha + 1) % 64];
		assert_verify_refused(k->key, jws);
		jws[i] = saved;
	}
}

static void
test_verify_refuses_every_truncation(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;
	size_t len;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	for (len = 0; len < strlen(jws); len++)
		assert_verify_refused_n(k->key, jws, len);
}

/* --- keys and kid ----------------------------------------------------- */

static void
test_verify_refuses_token_of_another_key(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;

	assert_int_equal(jws_sign(k->other, CLAIMS, &jws), 0);
	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_other_key_signature_under_our_kid(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = good_header(k->kid);
	_cleanup_free_ char *jws = craft(k->other, hdr, CLAIMS);

	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_wrong_kid(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = good_header(k->other_kid);
	_cleanup_free_ char *jws = craft(k->key, hdr, CLAIMS);

	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_missing_or_non_string_kid(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *no_kid =
		craft(k->key, "{\"alg\":\"EdDSA\"}", CLAIMS);
	_cleanup_free_ char *num_kid =
		craft(k->key, "{\"alg\":\"EdDSA\",\"kid\":1}", CLAIMS);
	_cleanup_free_ char *hdr = NULL, *arr_kid = NULL;

	assert_true(asprintf(&hdr, "{\"alg\":\"EdDSA\",\"kid\":[\"%s\"]}",
			     k->kid) > 0);
	arr_kid = craft(k->key, hdr, CLAIMS);
	assert_verify_refused(k->key, no_kid);
	assert_verify_refused(k->key, num_kid);
	assert_verify_refused(k->key, arr_kid);
}

/* --- algorithms and header -------------------------------------------- */

static void
assert_alg_refused(struct keys *k, const char *alg_json)
{
	_cleanup_free_ char *hdr = NULL, *jws = NULL;

	assert_true(asprintf(&hdr, "{\"alg\":%s,\"kid\":\"%s\"}", alg_json,
			     k->kid) > 0);
	/* Validly signed by the right key: only "alg" is wrong. */
	jws = craft(k->key, hdr, CLAIMS);
	assert_verify_refused(k->key, jws);
	assert_decode_refused_n(jws, strlen(jws));
}

static void
test_verify_refuses_alg_none(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = NULL, *h64 = NULL, *p64 = NULL,
			    *unsigned_jws = NULL;

	assert_alg_refused(k, "\"none\"");
	/* The classic form: empty signature part. */
	assert_true(asprintf(&hdr, "{\"alg\":\"none\",\"kid\":\"%s\"}",
			     k->kid) > 0);
	h64 = b64url(hdr, strlen(hdr));
	p64 = b64url(CLAIMS, strlen(CLAIMS));
	assert_true(asprintf(&unsigned_jws, "%s.%s.", h64, p64) > 0);
	assert_verify_refused(k->key, unsigned_jws);
	assert_decode_refused_n(unsigned_jws, strlen(unsigned_jws));
}

static void
test_verify_refuses_alg_hs256_keyed_with_public_key(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = NULL, *h64 = NULL, *p64 = NULL,
			    *input = NULL, *s64 = NULL, *jws = NULL;
	unsigned char pub[32], mac[32];
	size_t publen = sizeof(pub);
	unsigned maclen = sizeof(mac);

	assert_alg_refused(k, "\"HS256\"");
	/* Key confusion: an HMAC keyed with the (public) verification key. */
	assert_int_equal(EVP_PKEY_get_raw_public_key(k->key, pub, &publen), 1);
	assert_true(asprintf(&hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}",
			     k->kid) > 0);
	h64 = b64url(hdr, strlen(hdr));
	p64 = b64url(CLAIMS, strlen(CLAIMS));
	assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
	assert_non_null(HMAC(EVP_sha256(), pub, (int)publen,
			     (unsigned char *)input, strlen(input), mac,
			     &maclen));
	s64 = b64url(mac, maclen);
	assert_true(asprintf(&jws, "%s.%s", input, s64) > 0);
	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_alg_es256(void **state)
{
	assert_alg_refused(*state, "\"ES256\"");
}

static void
test_verify_refuses_alg_variants(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = NULL, *jws = NULL;

	assert_alg_refused(k, "\"eddsa\"");
	assert_alg_refused(k, "\"Ed25519\"");
	assert_alg_refused(k, "\"EdDSA \"");
	assert_alg_refused(k, "[\"EdDSA\"]");
	assert_alg_refused(k, "null");
	assert_alg_refused(k, "\"\"");
	/* No alg at all. */
	assert_true(asprintf(&hdr, "{\"kid\":\"%s\"}", k->kid) > 0);
	jws = craft(k->key, hdr, CLAIMS);
	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_crit_header(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = NULL, *jws = NULL, *hdr2 = NULL,
			    *b64false = NULL;

	assert_true(asprintf(&hdr,
			     "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
			     "\"crit\":[\"exp\"],\"exp\":1}",
			     k->kid) > 0);
	jws = craft(k->key, hdr, CLAIMS);
	assert_verify_refused(k->key, jws);
	assert_decode_refused_n(jws, strlen(jws));
	/* RFC 7797 unencoded payloads come with crit:["b64"]. */
	assert_true(asprintf(&hdr2,
			     "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
			     "\"b64\":false,\"crit\":[\"b64\"]}",
			     k->kid) > 0);
	b64false = craft(k->key, hdr2, CLAIMS);
	assert_verify_refused(k->key, b64false);
}

static void
test_verify_refuses_header_that_is_not_an_object(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *arr = craft(k->key, "[\"EdDSA\"]", CLAIMS);
	_cleanup_free_ char *str = craft(k->key, "\"EdDSA\"", CLAIMS);
	_cleanup_free_ char *bad = craft(k->key, "{\"alg\":", CLAIMS);

	assert_verify_refused(k->key, arr);
	assert_verify_refused(k->key, str);
	assert_verify_refused(k->key, bad);
}

static void
test_verify_refuses_duplicate_header_keys(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = NULL, *jws = NULL;

	assert_true(asprintf(&hdr,
			     "{\"alg\":\"none\",\"kid\":\"%s\","
			     "\"alg\":\"EdDSA\"}",
			     k->kid) > 0);
	jws = craft(k->key, hdr, CLAIMS);
	assert_verify_refused(k->key, jws);
	assert_decode_refused_n(jws, strlen(jws));
}

/* --- payload ---------------------------------------------------------- */

static void
assert_payload_refused_n(struct keys *k, const char *payload, size_t len)
{
	_cleanup_free_ char *hdr = good_header(k->kid);
	_cleanup_free_ char *jws =
		craft_n(k->key, hdr, strlen(hdr), payload, len);

	assert_verify_refused(k->key, jws);
	assert_decode_refused_n(jws, strlen(jws));
}

static void
assert_payload_refused(struct keys *k, const char *payload)
{
	assert_payload_refused_n(k, payload, strlen(payload));
}

static void
test_verify_refuses_payload_json_array(void **state)
{
	assert_payload_refused(*state, "[{\"jti\":\"x\"}]");
	assert_payload_refused(*state, "[]");
}

static void
test_verify_refuses_payload_json_scalar(void **state)
{
	assert_payload_refused(*state, "\"claims\"");
	assert_payload_refused(*state, "1");
	assert_payload_refused(*state, "null");
	assert_payload_refused(*state, "");
}

static void
test_verify_refuses_payload_duplicate_keys(void **state)
{
	assert_payload_refused(*state, "{\"max\":1,\"max\":100000}");
}

static void
test_verify_refuses_payload_trailing_garbage(void **state)
{
	assert_payload_refused(*state, "{\"max\":1} {\"max\":2}");
	assert_payload_refused(*state, "{\"max\":1}x");
}

static void
test_verify_refuses_payload_with_nul(void **state)
{
	static const char raw_nul[] = "{\"site\":\"a\0b\"}";
	static const char trailing_nul[] = "{\"site\":\"a\"}\0";

	assert_payload_refused_n(*state, raw_nul, sizeof(raw_nul) - 1);
	assert_payload_refused_n(*state, trailing_nul,
				 sizeof(trailing_nul) - 1);
	assert_payload_refused(*state, "{\"site\":\"a\\u0000b\"}");
}

static void
test_verify_refuses_payload_with_invalid_utf8(void **state)
{
	assert_payload_refused(*state, "{\"site\":\"\xff\xfe\"}");
	assert_payload_refused(*state, "{\"site\":\"\xc3\"}");
	/* Overlong encoding of '/'. */
	assert_payload_refused(*state, "{\"site\":\"\xc0\xaf\"}");
}

/* --- framing ---------------------------------------------------------- */

static void
test_verify_refuses_two_or_four_parts(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *four = NULL;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_true(asprintf(&four, "%s.%s", jws, "AAAA") > 0);
	assert_verify_refused(k->key, four);
	assert_decode_refused_n(four, strlen(four));
	/* Two parts: cut before the signature's dot. */
	assert_verify_refused_n(k->key, jws, (size_t)(strrchr(jws, '.') - jws));
	assert_decode_refused_n(jws, (size_t)(strrchr(jws, '.') - jws));
	/* One part. */
	assert_verify_refused_n(k->key, jws, (size_t)(strchr(jws, '.') - jws));
}

static void
test_verify_refuses_empty_parts(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *no_hdr = NULL, *no_pl = NULL,
			    *no_sig = NULL;
	static const char *const shapes[] = {"",     ".",    "..",  "...",
					     "a..b", ".a.b", "a.b."};
	size_t i;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	no_hdr = replace_part(jws, 0, "");
	no_pl = replace_part(jws, 1, "");
	no_sig = replace_part(jws, 2, "");
	assert_verify_refused(k->key, no_hdr);
	assert_verify_refused(k->key, no_pl);
	assert_verify_refused(k->key, no_sig);
	for (i = 0; i < ELEMENTSOF(shapes); i++) {
		assert_verify_refused(k->key, shapes[i]);
		assert_decode_refused_n(shapes[i], strlen(shapes[i]));
	}
}

/* A token of exactly `total` bytes, validly signed, with padding in both
 * header and payload so that no part exceeds the per-part bound. */
static char *
craft_exact_length(struct keys *k, size_t total)
{
	const size_t sig64 = 86;
	size_t hbase, pbase, hpad, ppad;
	char *hdr_fmt = NULL;

	assert_true(asprintf(&hdr_fmt,
			     "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
			     "\"pad\":\"\"}",
			     k->kid) > 0);
	hbase = strlen(hdr_fmt);
	free(hdr_fmt);
	pbase = strlen("{\"pad\":\"\"}");
	for (ppad = 2000; ppad > 0; ppad--) {
		for (hpad = 0; hpad < 1500; hpad++) {
			size_t h64 = ((hbase + hpad) * 4 + 2) / 3;
			size_t p64 = ((pbase + ppad) * 4 + 2) / 3;
			if (h64 + p64 + sig64 + 2 != total)
				continue;
			_cleanup_free_ char *hdr = NULL, *pl = NULL;
			assert_true(
				asprintf(&hdr,
					 "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
					 "\"pad\":\"%*s\"}",
					 k->kid, (int)hpad, "") > 0);
			assert_true(asprintf(&pl, "{\"pad\":\"%*s\"}",
					     (int)ppad, "") > 0);
			return craft(k->key, hdr, pl);
		}
	}
	fail_msg("no padding gives a %zu-byte token", total);
	return NULL;
}

static void
test_verify_accepts_exactly_max_len(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = craft_exact_length(k, JWS_MAX_LEN);
	_cleanup_(json_decrefp) json_t *claims = NULL;

	assert_int_equal(strlen(jws), JWS_MAX_LEN);
	assert_int_equal(jws_verify(k->key, jws, strlen(jws), &claims), 0);
}

static void
test_verify_refuses_one_over_max_len(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = craft_exact_length(k, JWS_MAX_LEN + 1);

	assert_int_equal(strlen(jws), JWS_MAX_LEN + 1);
	assert_verify_refused(k->key, jws);
	assert_decode_refused_n(jws, strlen(jws));
}

static void
test_verify_refuses_10_kib(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *hdr = good_header(k->kid);
	_cleanup_free_ char *big = malloc(10 * 1024 + 1), *pl = NULL,
			    *signed_big = NULL;

	assert_non_null(big);
	memset(big, 'A', 10 * 1024);
	big[10 * 1024] = '\0';
	big[100] = '.';
	big[200] = '.';
	assert_verify_refused(k->key, big);
	assert_decode_refused_n(big, strlen(big));
	/* And a genuinely signed 10 KiB token. */
	assert_true(asprintf(&pl, "{\"pad\":\"%*s\"}", 7400, "") > 0);
	signed_big = craft(k->key, hdr, pl);
	assert_true(strlen(signed_big) > 10 * 1000);
	assert_verify_refused(k->key, signed_big);
	assert_decode_refused_n(signed_big, strlen(signed_big));
}

static void
test_verify_refuses_embedded_nul(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *copy = NULL;
	size_t len;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	len = strlen(jws);
	copy = malloc(len + 2);
	assert_non_null(copy);
	/* A NUL at the end, counted in len. */
	memcpy(copy, jws, len + 1);
	assert_verify_refused_n(k->key, copy, len + 1);
	assert_decode_refused_n(copy, len + 1);
	/* A NUL inside the payload part. */
	copy[len / 2] = '\0';
	assert_verify_refused_n(k->key, copy, len);
	assert_decode_refused_n(copy, len);
}

static void
test_verify_refuses_non_ascii_bytes(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *utf8 = NULL;
	char *dot;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	dot = strchr(jws, '.');
	assert_true(asprintf(&utf8, "%.*s\xc3\xa9%s", (int)(dot - jws), jws,
			     dot) > 0);
	assert_verify_refused(k->key, utf8);
	assert_decode_refused_n(utf8, strlen(utf8));
	jws[5] = (char)0x80;
	assert_verify_refused(k->key, jws);
	jws[5] = (char)0xff;
	assert_verify_refused(k->key, jws);
}

static void
test_verify_refuses_whitespace_and_padding(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL, *sp = NULL, *nl = NULL, *pad = NULL;

	assert_int_equal(jws_sign(k->key, CLAIMS, &jws), 0);
	assert_true(asprintf(&sp, " %s", jws) > 0);
	assert_true(asprintf(&nl, "%s\n", jws) > 0);
	assert_true(asprintf(&pad, "%s==", jws) > 0);
	assert_verify_refused(k->key, sp);
	assert_verify_refused(k->key, nl);
	assert_verify_refused(k->key, pad);
}

/* --- jws_decode_unverified -------------------------------------------- */

static void
test_decode_unverified_parses_claims_without_a_key(void **state)
{
	struct keys *k = *state;
	_cleanup_free_ char *jws = NULL;
	_cleanup_(json_decrefp) json_t *claims = NULL, *expect = NULL;

	assert_int_equal(jws_sign(k->other, CLAIMS, &jws), 0);
	assert_int_equal(jws_decode_unverified(jws, strlen(jws), &claims), 0);
	expect = json_loads(CLAIMS, 0, NULL);
	assert_true(json_equal(claims, expect));
}

static void
test_decode_unverified_refuses_malformed(void **state)
{
	assert_decode_refused_n("", 0);
	assert_decode_refused_n("not a token", 11);
	assert_decode_refused_n("e30.e30", 7);
	assert_decode_refused_n("e30.e30.e30.e30", 15);
	/* "{}" header has no alg. */
	assert_decode_refused_n("e30.e30.AAAA", 12);
}

/* --- jws_public_jwk and jws_key_id ------------------------------------ */

static void
test_key_id_is_b64url_of_spki_sha256_prefix(void **state)
{
	/* Ed25519 SPKI is a fixed 12-byte prefix and the raw key (RFC 8410). */
	static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
					   0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
	struct keys *k = *state;
	uint8_t spki[44], digest[32];
	size_t len = 32;
	unsigned dlen = 0;
	_cleanup_free_ char *expect = NULL;

	memcpy(spki, prefix, sizeof(prefix));
	assert_int_equal(EVP_PKEY_get_raw_public_key(k->key, spki + 12, &len),
			 1);
	assert_int_equal(EVP_Digest(spki, sizeof(spki), digest, &dlen,
				    EVP_sha256(), NULL),
			 1);
	expect = b64url(digest, 12);
	assert_string_equal(k->kid, expect);
	assert_int_equal(strlen(k->kid), 16);
	assert_string_not_equal(k->kid, k->other_kid);
}

static void
test_public_jwk_fields(void **state)
{
	struct keys *k = *state;
	_cleanup_(json_decrefp) json_t *jwk = NULL;
	_cleanup_free_ uint8_t *x = NULL;
	const char *x64;
	uint8_t raw[32];
	size_t rawlen = sizeof(raw), n;

	assert_int_equal(jws_public_jwk(k->key, &jwk), 0);
	assert_int_equal(json_object_size(jwk), 6);
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")),
			    "OKP");
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
			    "Ed25519");
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
			    "EdDSA");
	assert_string_equal(json_string_value(json_object_get(jwk, "use")),
			    "sig");
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")),
			    k->kid);
	x64 = json_string_value(json_object_get(jwk, "x"));
	assert_non_null(x64);
	assert_int_equal(b64url_decode(x64, strlen(x64), &x, &n), 0);
	assert_int_equal(n, 32);
	assert_int_equal(EVP_PKEY_get_raw_public_key(k->key, raw, &rawlen), 1);
	assert_memory_equal(x, raw, 32);
}

static void
test_public_jwk_carries_no_private_part(void **state)
{
	struct keys *k = *state;
	_cleanup_(json_decrefp) json_t *jwk = NULL;

	assert_int_equal(jws_public_jwk(k->key, &jwk), 0);
	assert_null(json_object_get(jwk, "d"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_sign_writes_the_documented_header),
		cmocka_unit_test(test_crafted_token_with_good_header_verifies),
		cmocka_unit_test(test_verify_ignores_bytes_after_len),
		cmocka_unit_test(test_sign_refuses_non_ed25519_key),
		cmocka_unit_test(test_sign_refuses_output_over_max_len),
		cmocka_unit_test(test_verify_refuses_tampered_payload),
		cmocka_unit_test(test_verify_refuses_tampered_header),
		cmocka_unit_test(test_verify_refuses_tampered_signature),
		cmocka_unit_test(
			test_verify_refuses_truncated_and_extended_signature),
		cmocka_unit_test(
			test_verify_refuses_noncanonical_signature_s_plus_l),
		cmocka_unit_test(
			test_verify_refuses_every_single_character_change),
		cmocka_unit_test(test_verify_refuses_every_truncation),
		cmocka_unit_test(test_verify_refuses_token_of_another_key),
		cmocka_unit_test(
			test_verify_refuses_other_key_signature_under_our_kid),
		cmocka_unit_test(test_verify_refuses_wrong_kid),
		cmocka_unit_test(test_verify_refuses_missing_or_non_string_kid),
		cmocka_unit_test(test_verify_refuses_alg_none),
		cmocka_unit_test(
			test_verify_refuses_alg_hs256_keyed_with_public_key),
		cmocka_unit_test(test_verify_refuses_alg_es256),
		cmocka_unit_test(test_verify_refuses_alg_variants),
		cmocka_unit_test(test_verify_refuses_crit_header),
		cmocka_unit_test(
			test_verify_refuses_header_that_is_not_an_object),
		cmocka_unit_test(test_verify_refuses_duplicate_header_keys),
		cmocka_unit_test(test_verify_refuses_payload_json_array),
		cmocka_unit_test(test_verify_refuses_payload_json_scalar),
		cmocka_unit_test(test_verify_refuses_payload_duplicate_keys),
		cmocka_unit_test(test_verify_refuses_payload_trailing_garbage),
		cmocka_unit_test(test_verify_refuses_payload_with_nul),
		cmocka_unit_test(test_verify_refuses_payload_with_invalid_utf8),
		cmocka_unit_test(test_verify_refuses_two_or_four_parts),
		cmocka_unit_test(test_verify_refuses_empty_parts),
		cmocka_unit_test(test_verify_accepts_exactly_max_len),
		cmocka_unit_test(test_verify_refuses_one_over_max_len),
		cmocka_unit_test(test_verify_refuses_10_kib),
		cmocka_unit_test(test_verify_refuses_embedded_nul),
		cmocka_unit_test(test_verify_refuses_non_ascii_bytes),
		cmocka_unit_test(test_verify_refuses_whitespace_and_padding),
		cmocka_unit_test(
			test_decode_unverified_parses_claims_without_a_key),
		cmocka_unit_test(test_decode_unverified_refuses_malformed),
		cmocka_unit_test(test_key_id_is_b64url_of_spki_sha256_prefix),
		cmocka_unit_test(test_public_jwk_fields),
		cmocka_unit_test(test_public_jwk_carries_no_private_part),
	};

	return cmocka_run_group_tests_name("jws", tests, setup, teardown);
}
