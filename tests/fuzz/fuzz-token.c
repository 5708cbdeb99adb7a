/* SPDX-License-Identifier: MIT */
/* Fuzz target: enrollment tokens. Each input is tried as
 *   1. a token the agent decodes without a key (jws_decode_unverified),
 *   2. a token the server verifies with its key (jws_verify),
 *   3. a bare claims object (the JSON inside a token),
 * and whatever claims come out go through token_claims_from_json. Besides
 * crashes and sanitizer reports, it aborts when an invariant breaks:
 * accepted claims are within their bounds, survive to_json/from_json and a
 * sign/verify round trip, and a verified token decodes to the same claims.
 *
 * The verifying key is RFC 8032 §7.1 TEST 1: a published test vector, so
 * that seed tokens in corpus/token/ (made by make-token-corpus.sh) get past
 * the signature and exercise the claims. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jws.h"
#include "name.h"
#include "ossl.h"
#include "token.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static const uint8_t test_secret[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
	0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
	0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static EVP_PKEY *
test_key(void)
{
	static EVP_PKEY *key;

	if (!key)
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						   test_secret,
						   sizeof(test_secret));
	CHECK(key);
	return key;
}

static void
check_bounds(const struct token_claims *c)
{
	size_t i;

	CHECK(token_id_is_valid(c->jti));
	CHECK(c->n_iss >= 1 && c->n_iss <= TOKEN_ISS_MAX);
	for (i = 0; i < c->n_iss; i++)
		CHECK(token_url_is_valid(c->iss[i]));
	CHECK(token_pin_is_valid(c->pin));
	CHECK(name_is_dns_label(c->site));
	CHECK(token_role_is_valid(c->role));
	CHECK(c->exp > 0 && c->iat <= c->exp);
	CHECK(c->max >= 1 && c->max <= TOKEN_USES_MAX);
	CHECK(json_is_object(c->labels));
	CHECK(json_object_size(c->labels) <= TOKEN_LABELS_MAX);
}

/* Accepted claims mean the same after to_json -> from_json, and after the
 * server signs them and verifies its own token. */
static void
check_round_trips(const struct token_claims *c)
{
	_cleanup_(json_decrefp) json_t *out = NULL, *out2 = NULL,
				       *verified = NULL;
	_cleanup_(token_claims_freep) struct token_claims *again = NULL;
	_cleanup_free_ char *payload = NULL, *jws = NULL;

	CHECK(token_claims_to_json(c, &out) == 0);
	CHECK(token_claims_from_json(out, &again) == 0);
	CHECK(token_claims_to_json(again, &out2) == 0);
	CHECK(json_equal(out, out2));

	payload = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK(payload);
	if (jws_sign(test_key(), payload, &jws) < 0)
		return; /* over JWS_MAX_LEN */
	CHECK(jws_verify(test_key(), jws, strlen(jws), &verified) == 0);
	CHECK(json_equal(verified, out));
}

static void
check_claims(json_t *j)
{
	_cleanup_(token_claims_freep) struct token_claims *c = NULL;

	if (token_claims_from_json(j, &c) < 0) {
		CHECK(!c);
		return;
	}
	check_bounds(c);
	check_round_trips(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(json_decrefp) json_t *unverified = NULL, *verified = NULL,
				       *bare = NULL;
	const char *s = (const char *)data;
	int r;

	r = jws_decode_unverified(s, size, &unverified);
	if (r >= 0)
		check_claims(unverified);
	else
		CHECK(!unverified);

	if (jws_verify(test_key(), s, size, &verified) >= 0) {
		CHECK(size <= JWS_MAX_LEN);
		CHECK(r >= 0 && json_equal(verified, unverified));
		check_claims(verified);
	} else {
		CHECK(!verified);
	}

	bare = json_loadb(s, size, JSON_REJECT_DUPLICATES, NULL);
	if (bare)
		check_claims(bare);
	return 0;
}
